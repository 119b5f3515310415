/// A histogram of `|x|` with a fixed number of equal-width bins starting at 0. When a value
/// beyond the covered range arrives, neighbouring bins merge pairwise (the width doubles)
/// until it fits, so memory stays fixed however the range grows.
///
/// Tiny ranges: with the width in `Float`, a group whose largest `|x|` is below about 2.4e-35
/// (2048 bins) gets a subnormal width: below about 6e-36 its reciprocal is infinite (`Int(inf)`
/// trapped), below about 1.4e-42 it is 0 and never grows by doubling (a hang). The width is therefore kept as a `Double`:
/// when the first width is a normal `Float` (every ordinary range) the histogram bins in
/// `Float` exactly as it always has, and below that it bins in `Double`, where every positive
/// `Float` divided by the bin count is normal with a finite reciprocal.
package struct AbsHistogram: Sendable {
  /// Counts per bin.
  package var counts: [Double]
  /// Bin width; 0 until a non-zero value arrives.
  package var width: Double = 0
  /// The largest finite `|x|` seen.
  package var maxSeen: Float = 0
  /// Values counted.
  package var total: Double = 0
  /// Whether the width is a normal `Float` and binning runs in `Float` arithmetic.
  package private(set) var floatWidth = true

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
    if floatWidth {
      let inv: Float = width > 0 ? 1 / Float(width) : 0
      counts.withUnsafeMutableBufferPointer { c in
        for i in start..<(start &+ n) {
          let x = v[i]
          guard x.isFinite else { continue }
          let idx = Swift.min(Int(Swift.abs(x) * inv), nb &- 1)
          c[idx] += 1
        }
      }
    } else {
      let inv: Double = width > 0 ? 1 / width : 0
      let last = Double(nb &- 1)
      counts.withUnsafeMutableBufferPointer { c in
        for i in start..<(start &+ n) {
          let x = v[i]
          guard x.isFinite else { continue }
          c[Int(Swift.min(Double(Swift.abs(x)) * inv, last))] += 1
        }
      }
    }
    total += Double(n - bad)
    return bad
  }

  /// Sets the first bin width from the first non-zero maximum `m`.
  package mutating func startWidth(forMaximum m: Float) {
    let w = m / Float(binCount) * (1 + 1e-6)
    floatWidth = w.isNormal
    width = floatWidth ? Double(w) : Double(m) / Double(binCount) * (1 + 1e-6)
  }

  /// Doubles the width (merging neighbouring bins) until `m` falls inside the covered range.
  package mutating func cover(_ m: Float) {
    if floatWidth {
      while m >= Float(width) * Float(binCount) { mergePairs() }
    } else {
      while Double(m) >= width * Double(binCount) { mergePairs() }
    }
  }

  private mutating func mergePairs() {
    let n = binCount
    var merged = [Double](repeating: 0, count: n)
    for i in 0..<n { merged[i / 2] += counts[i] }
    counts = merged
    width *= 2
  }

  /// The center of bin `i`.
  package func center(_ i: Int) -> Float {
    floatWidth ? (Float(i) + 0.5) * Float(width) : Float((Double(i) + 0.5) * width)
  }

  /// The upper edge of the first `bins` bins (`bins × width`), as a `Float`.
  package func edge(_ bins: Int) -> Float { floatWidth ? Float(bins) * Float(width) : Float(Double(bins) * width) }
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

  /// The largest bin count a histogram calibrator accepts: 65 536 bins are 512 KiB per range
  /// group (a per-channel quantizer has one group per channel). ModelOpt's default is 2048.
  public static let maxBins = 1 << 16

  /// Checks a histogram calibrator's bin count (16 ≤ bins ≤ `limit`).
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` naming `calibrator` and the `bins` key.
  package static func checkBins(_ bins: Int, calibrator: String, limit: Int = maxBins) throws {
    guard bins >= 16 else {
      throw ConfigError.invalidValue("\(calibrator) calibrator", path: "bins", "needs at least 16 bins, got \(bins)")
    }
    guard bins <= limit else {
      throw ConfigError.invalidValue(
        "\(calibrator) calibrator", path: "bins",
        "at most \(limit) bins (8 bytes each per range group), got \(bins); ModelOpt's default is 2048")
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
