/// The range is the `percentile`-th percentile of `|x|` per group, from a histogram
/// (ModelOpt's `HistogramCalibrator` with `method="percentile"`): outliers beyond it are
/// clipped. Never above the largest value seen.
///
/// Options: `{"percentile": 99.99, "bins": 2048}`.
public final class PercentileCalibrator: HistogramCalibratorBase, Calibrator {
  /// Options.
  public struct Options: Codable, Hashable, Sendable {
    /// The percentile in (0, 100].
    public var percentile: Double = 99.99
    /// Histogram bins.
    public var bins: Int = 2048
    /// Defaults.
    public init() {}
    private enum CodingKeys: String, CodingKey { case percentile, bins }
    /// Decodes with defaults for absent keys.
    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      percentile = try c.decodeIfPresent(Double.self, forKey: .percentile) ?? 99.99
      bins = try c.decodeIfPresent(Int.self, forKey: .bins) ?? 2048
    }
  }

  /// The options in use.
  public let options: Options

  /// Creates a calibrator.
  ///
  /// - Throws: ``ConfigError`` when the percentile is outside (0, 100] or `bins` outside
  ///   16…``HistogramCalibratorBase/maxBins``.
  public init(options: Options = Options()) throws {
    try Self.checkBins(options.bins, calibrator: "percentile")
    guard options.percentile > 0, options.percentile <= 100 else {
      throw ConfigError.invalidValue("percentile calibrator", path: "percentile", "must be in (0, 100], got \(options.percentile)")
    }
    self.options = options
    super.init(bins: options.bins)
  }

  /// The percentile per group (the upper edge of the bin where the cumulative count reaches it).
  public func computeAmax(for target: CalibrationTarget) throws -> [Float]? {
    return amaxPerGroup { h in
      let goal = h.total * options.percentile / 100
      var cum = 0.0
      for i in 0..<h.binCount {
        cum += h.counts[i]
        if cum >= goal { return Swift.min(h.edge(i + 1), h.maxSeen) }
      }
      return h.maxSeen
    }
  }
}
