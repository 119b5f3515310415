/// The range is the largest finite `|x|` seen per group (ModelOpt's `MaxCalibrator`, the
/// default). Takes no options.
public final class MaxCalibrator: Calibrator {
  package var amax: [Float] = []
  package var seen = false
  /// NaN / ±Inf values skipped.
  public package(set) var nonFiniteCount = 0

  /// Creates an empty calibrator.
  public init() {}

  /// Updates the running per-group maximum of `|x|`.
  public func collect(_ batch: CalibrationBatch) {
    if !seen || amax.count != batch.groupCount {
      amax = [Float](repeating: 0, count: batch.groupCount)
      seen = true
    }
    var bad = 0
    batch.values.withUnsafeBufferPointer { v in
      amax.withUnsafeMutableBufferPointer { a in
        for g in 0..<batch.groupCount {
          var m = a[g]
          let base = g &* batch.groupSize
          for i in 0..<batch.groupSize {
            let x = v[base &+ i]
            if x.isFinite { m = Swift.max(m, Swift.abs(x)) } else { bad &+= 1 }
          }
          a[g] = m
        }
      }
    }
    nonFiniteCount += bad
  }

  /// The per-group maximum.
  public func computeAmax(for target: CalibrationTarget) throws -> [Float]? { seen ? amax : nil }

  /// Forgets everything.
  public func reset() {
    amax = []
    seen = false
    nonFiniteCount = 0
  }
}
