/// A histogram of `|x|` with a fixed number of equal-width bins starting at 0. When a value
/// beyond the covered range arrives, neighbouring bins merge pairwise (the width doubles)
/// until it fits, so memory stays fixed however the range grows.
package struct AbsHistogram: Sendable {
  /// Counts per bin.
  package var counts: [Double]
  /// Bin width; 0 until a non-zero value arrives.
  package var width: Float = 0
  /// The largest finite `|x|` seen.
  package var maxSeen: Float = 0
  /// Values counted.
  package var total: Double = 0

  /// `bins` empty bins.
  package init(bins: Int) { counts = [Double](repeating: 0, count: bins) }

  /// Number of bins.
  package var binCount: Int { counts.count }

  /// Adds the finite values of `v[start..<start+n]` (as `|x|`); returns how many were not finite.
  package mutating func add(_ v: UnsafeBufferPointer<Float>, start: Int, count n: Int) -> Int {
    var bad = 0
    var m: Float = 0
    for i in start..<(start &+ n) {
      let x = v[i]
      if x.isFinite { m = Swift.max(m, Swift.abs(x)) } else { bad &+= 1 }
    }
    if m > 0 {
      if width == 0 { startWidth(forMaximum: m) }
      cover(m)
    }
    maxSeen = Swift.max(maxSeen, m)
    let nb = binCount
    let inv: Float = width > 0 ? 1 / width : 0
    counts.withUnsafeMutableBufferPointer { c in
      for i in start..<(start &+ n) {
        let x = v[i]
        guard x.isFinite else { continue }
        let idx = Swift.min(Int(Swift.abs(x) * inv), nb &- 1)
        c[idx] += 1
      }
    }
    total += Double(n - bad)
    return bad
  }

  /// Sets the first bin width from the first non-zero maximum `m`.
  package mutating func startWidth(forMaximum m: Float) { width = m / Float(binCount) * (1 + 1e-6) }

  /// Doubles the width (merging neighbouring bins) until `m` falls inside the covered range.
  package mutating func cover(_ m: Float) {
    while m >= width * Float(binCount) { mergePairs() }
  }

  private mutating func mergePairs() {
    let n = binCount
    var merged = [Double](repeating: 0, count: n)
    for i in 0..<n { merged[i / 2] += counts[i] }
    counts = merged
    width *= 2
  }

  /// The center of bin `i`.
  package func center(_ i: Int) -> Float { (Float(i) + 0.5) * width }
}

/// Shared per-group histogram collection for the percentile, MSE and entropy calibrators.
public class HistogramCalibratorBase {
  package var histograms: [AbsHistogram] = []
  package let bins: Int
  /// NaN / ±Inf values skipped.
  public package(set) var nonFiniteCount = 0
  /// The ranks whose histograms this one merges with (see ``DistributedCalibrator``); `nil`
  /// when calibrating in one process.
  package var communicator: (any Communicator)?
  /// The first error of a collective made while collecting, thrown by `reduce(over:)`.
  package var collectiveError: (any Error)?

  package init(bins: Int) { self.bins = bins }

  /// Checks a histogram calibrator's bin count (at least 16).
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` naming `calibrator` and the `bins` key.
  package static func checkBins(_ bins: Int, calibrator: String) throws {
    guard bins >= 16 else {
      throw ConfigError.invalidValue("\(calibrator) calibrator", path: "bins", "needs at least 16 bins, got \(bins)")
    }
  }

  /// The range of every group from its histogram: `nil` before any batch was collected, `0` for
  /// a group that saw no non-zero finite value, `amax(histogram)` otherwise. The one place the
  /// percentile, MSE and entropy rules share their empty and all-zero cases.
  package func amaxPerGroup(_ amax: (AbsHistogram) -> Float) -> [Float]? {
    guard !histograms.isEmpty else { return nil }
    return histograms.map { h in h.total > 0 && h.width > 0 ? amax(h) : 0 }
  }

  /// Adds one batch to the per-group histograms.
  public func collect(_ batch: CalibrationBatch) {
    if histograms.count != batch.groupCount {
      histograms = [AbsHistogram](repeating: AbsHistogram(bins: bins), count: batch.groupCount)
    }
    if let communicator { agreeOnFirstWidths(batch, communicator: communicator) }
    var bad = 0
    batch.values.withUnsafeBufferPointer { v in
      for g in 0..<batch.groupCount {
        bad += histograms[g].add(v, start: g * batch.groupSize, count: batch.groupSize)
      }
    }
    nonFiniteCount += bad
  }

  /// Forgets everything.
  public func reset() {
    histograms = []
    nonFiniteCount = 0
  }
}
