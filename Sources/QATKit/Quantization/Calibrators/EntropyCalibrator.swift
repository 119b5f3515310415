import Foundation

/// Picks the range whose quantized distribution is closest in KL divergence to the observed
/// one, TensorRT's entropy calibration as in ModelOpt's `HistogramCalibrator`
/// (`method="entropy"`): for each candidate cut `i ≥ startBin` of the `|x|` histogram, the
/// clipped reference (outliers folded into the last bin) is compared with its merge into the
/// format's number of positive levels, expanded back over the non-empty bins; the last cut
/// with the smallest divergence wins and its upper edge is the range.
///
/// Options: `{"bins": 2048, "startBin": 128, "stride": 1}`.
public final class EntropyCalibrator: HistogramCalibratorBase, Calibrator {
  /// Options.
  public struct Options: Codable, Hashable, Sendable {
    /// Histogram bins.
    public var bins: Int = 2048
    /// The first candidate cut.
    public var startBin: Int = 128
    /// Step between candidate cuts.
    public var stride: Int = 1
    /// Defaults.
    public init() {}
    private enum CodingKeys: String, CodingKey { case bins, startBin, stride }
    /// Decodes with defaults for absent keys.
    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      bins = try c.decodeIfPresent(Int.self, forKey: .bins) ?? 2048
      startBin = try c.decodeIfPresent(Int.self, forKey: .startBin) ?? 128
      stride = try c.decodeIfPresent(Int.self, forKey: .stride) ?? 1
    }
  }

  /// The options in use.
  public let options: Options

  /// The largest bin count: the search compares every cut with every bin (time grows with
  /// `bins²` per range group), so entropy calibration takes fewer bins than the others.
  public static let maxEntropyBins = 1 << 13

  /// Creates a calibrator.
  ///
  /// - Throws: ``ConfigError`` unless `16 <= bins <=` ``maxEntropyBins``, `1 <= startBin <= bins`
  ///   and `stride >= 1`.
  public init(options: Options = Options()) throws {
    try Self.checkBins(options.bins, calibrator: "entropy", limit: Self.maxEntropyBins)
    guard (1...options.bins).contains(options.startBin), options.stride >= 1 else {
      throw ConfigError.invalidValue(
        "entropy calibrator", path: "startBin",
        "need 1 <= startBin <= bins, stride >= 1; got bins \(options.bins), startBin \(options.startBin), stride \(options.stride)")
    }
    self.options = options
    super.init(bins: options.bins)
  }

  /// The minimum-divergence range per group.
  public func computeAmax(for target: CalibrationTarget) throws -> [Float]? {
    let levels = target.format.positiveLevels
    return amaxPerGroup { h in
      let cut = Self.bestCut(h.counts, levels: levels, start: Swift.max(options.startBin, levels), stride: options.stride)
      return Swift.min(h.edge(cut), h.maxSeen)
    }
  }

  /// The cut index (number of bins kept) with the smallest KL divergence.
  package static func bestCut(_ hist: [Double], levels: Int, start: Int, stride: Int) -> Int {
    let n = hist.count
    guard start <= n else { return n }
    var suffix = [Double](repeating: 0, count: n + 1)
    for i in Swift.stride(from: n - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + hist[i] }
    var bestI = n
    var bestD = Double.infinity
    var p = [Double](repeating: 0, count: n)
    var q = [Double](repeating: 0, count: n)
    for i in Swift.stride(from: start, through: n, by: stride) {
      // Reference: the first i bins, outliers folded into the last.
      for j in 0..<i { p[j] = hist[j] }
      p[i - 1] += suffix[i]
      // Quantized: i bins merged into `levels` chunks, spread over each chunk's non-empty bins.
      let merged = i / levels
      for c in 0..<levels {
        let lo = c * merged
        let hi = c == levels - 1 ? i : lo + merged
        var sum = 0.0
        var nonzero = 0
        for j in lo..<hi {
          sum += hist[j]
          if hist[j] != 0 { nonzero += 1 }
        }
        let v = nonzero > 0 ? sum / Double(nonzero) : 0
        for j in lo..<hi { q[j] = hist[j] != 0 ? v : 0 }
      }
      let d = klDivergence(p, q, count: i)
      if d <= bestD {
        bestD = d
        bestI = i
      }
    }
    return bestI
  }

  /// KL(p‖q) of the first `count` entries after normalizing both (SciPy's `entropy`).
  private static func klDivergence(_ p: [Double], _ q: [Double], count: Int) -> Double {
    var sp = 0.0, sq = 0.0
    for j in 0..<count {
      sp += p[j]
      sq += q[j]
    }
    guard sp > 0, sq > 0 else { return .infinity }
    var d = 0.0
    for j in 0..<count where p[j] > 0 {
      let pj = p[j] / sp
      let qj = q[j] / sq
      if qj <= 0 { return .infinity }
      d += pj * Foundation.log(pj / qj)
    }
    return d
  }
}
