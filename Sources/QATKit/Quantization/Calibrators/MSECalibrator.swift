/// Searches the range that minimizes the mean squared fake-quantization error per group
/// (ModelOpt's `mse` calibration): candidates are multiples of the largest `|x|` seen, from
/// `start` to `stop` in `steps` even steps; the error is measured on a histogram of `|x|`
/// (bin centers weighted by counts) with the quantizer's own fake quantization. Ties go to
/// the larger range.
///
/// Options: `{"start": 0.25, "stop": 1.0, "steps": 64, "bins": 2048}`. (ModelOpt sweeps
/// 10 multipliers in [0.25, 4]; beyond 1 the range only wastes codes, so we sweep finer below 1.)
public final class MSECalibrator: HistogramCalibratorBase, Calibrator {
  /// Options.
  public struct Options: Codable, Hashable, Sendable {
    /// Smallest multiplier of the maximum.
    public var start: Double = 0.25
    /// Largest multiplier of the maximum.
    public var stop: Double = 1.0
    /// Number of candidates.
    public var steps: Int = 64
    /// Histogram bins.
    public var bins: Int = 2048
    /// Defaults.
    public init() {}
    private enum CodingKeys: String, CodingKey { case start, stop, steps, bins }
    /// Decodes with defaults for absent keys.
    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      start = try c.decodeIfPresent(Double.self, forKey: .start) ?? 0.25
      stop = try c.decodeIfPresent(Double.self, forKey: .stop) ?? 1.0
      steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? 64
      bins = try c.decodeIfPresent(Int.self, forKey: .bins) ?? 2048
    }
  }

  /// The options in use.
  public let options: Options

  /// The largest number of candidate ranges (each one fake-quantizes every non-empty bin).
  public static let maxSteps = 10_000

  /// Creates a calibrator.
  ///
  /// - Throws: ``ConfigError`` for `start <= 0`, `stop < start`, `stop > 1000`, `steps` outside
  ///   1…``maxSteps`` or `bins` outside 16…``HistogramCalibratorBase/maxBins``.
  public init(options: Options = Options()) throws {
    try Self.checkBins(options.bins, calibrator: "mse")
    guard options.start > 0, options.stop >= options.start, options.stop <= 1000 else {
      throw ConfigError.invalidValue(
        "mse calibrator", path: "start", "need 0 < start <= stop <= 1000, got \(options.start)…\(options.stop)")
    }
    guard (1...Self.maxSteps).contains(options.steps) else {
      throw ConfigError.invalidValue("mse calibrator", path: "steps", "need 1…\(Self.maxSteps) steps, got \(options.steps)")
    }
    self.options = options
    super.init(bins: options.bins)
  }

  /// The error-minimizing range per group.
  public func computeAmax(for target: CalibrationTarget) throws -> [Float]? {
    return amaxPerGroup { h in
      var centers: [Float] = []
      var weights: [Double] = []
      for i in 0..<h.binCount where h.counts[i] > 0 {
        centers.append(Swift.min(h.center(i), h.maxSeen))
        weights.append(h.counts[i])
      }
      var best = h.maxSeen
      var bestErr = Double.infinity
      let n = options.steps
      for k in stride(from: n - 1, through: 0, by: -1) {
        let mult = n == 1 ? options.stop : options.start + (options.stop - options.start) * Double(k) / Double(n - 1)
        let amax = Float(Double(h.maxSeen) * mult)
        let q = target.fakeQuantize(centers, amax)
        var err = 0.0
        for j in centers.indices {
          let d = Double(q[j] - centers[j])
          err += weights[j] * d * d
        }
        if err < bestErr {
          bestErr = err
          best = amax
        }
      }
      return best
    }
  }
}
