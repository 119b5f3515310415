import QATKit

/// Trained Ternary Quantization (Zhu, Han, Mao, Dally, ICLR 2017) for weights: each group
/// (tensor, channel or block) maps to `{−Wn, 0, +Wp}` with two learned, independent scales.
///
/// Forward: the threshold is `Δ = t · max|w|` of the group; `w > Δ → +Wp`, `w < −Δ → −Wn`,
/// otherwise `0`. Backward (the paper's equations 7–8): `∂L/∂Wp` sums the output gradient over
/// the positive region and `∂L/∂Wn` minus it over the negative region; the latent
/// full-precision weights get the gradient scaled by `Wp`, `1` and `Wn` in the three regions
/// (the threshold is treated as a constant).
///
/// Initialization: `Wp` and `Wn` start at the mean of `w` over `w > Δ` and of `|w|` over
/// `w < −Δ` (the least-squares scales of the initial assignment, as TWN computes them), from
/// the weight the `quantize` mode shows the quantizer at calibration. The configured
/// calibrator is built by the mode but not used.
///
/// Attributes: `format` must be `int2` (ternary codes); any granularity. Options
/// (`algorithmOptions`): `threshold` `t` in (0, 1), default 0.05 (the paper's value), and
/// `learnScales` (default `true`; `false` freezes the initial scales: ternary with fixed
/// TWN-style scales, the paper's baseline). State: `_wp` and `_wn`, one value per group.
public final class TTQQuantizer: Quantizer {
  /// Options under `algorithmOptions`.
  public struct Options: PluginOptions, Equatable {
    /// The threshold as a fraction of the group's largest `|w|`.
    public var threshold: Float = 0.05
    /// Whether `Wp` and `Wn` are trained.
    public var learnScales = true
    /// The defaults.
    public init() {}
  }

  /// Enabled flag.
  public var isEnabled: Bool
  /// The attributes (format `int2`).
  public let attributes: QuantizerAttributes
  /// The options in use.
  public let options: Options
  /// The positive scale per group, once calibrated or restored.
  public private(set) var wp: Tensor?
  /// The negative scale per group (a positive number: negative weights become `−Wn`).
  public private(set) var wn: Tensor?
  /// Every value seen while calibrating, per group.
  private var observed: [[Float]]?

  /// Creates the quantizer.
  ///
  /// - Throws: ``QuantizerError/unsupportedFormat(algorithm:format:reason:)`` unless the format
  ///   is `int2`; ``ConfigError`` for attribute combinations the core rejects
  ///   (``QuantizerAttributes/validate(path:)``) or an option.
  public init(attributes: QuantizerAttributes) throws {
    guard attributes.format == .int(bits: 2, signed: true) else {
      throw QuantizerError.unsupportedFormat(
        algorithm: "ttq", format: attributes.format, reason: "ttq quantizes to ternary {−Wn, 0, +Wp}; use format int2")
    }
    try attributes.validate(path: "")
    let options = try attributes.decodeAlgorithmOptions(Options.self)
    guard options.threshold > 0, options.threshold < 1 else {
      throw ConfigError.invalidValue("ttq options", path: "algorithmOptions.threshold", "must be in (0, 1), got \(options.threshold)")
    }
    self.attributes = attributes
    self.options = options
    isEnabled = attributes.enable
  }

  /// `_wp` and `_wn` once they exist.
  public func stateTensors() -> [(String, Tensor)] {
    guard let wp, let wn else { return [] }
    return [("_wp", wp), ("_wn", wn)]
  }

  /// `_wp` and `_wn` (unless `learnScales` is off).
  public func learnableParameters() -> [(String, Tensor)] { options.learnScales ? stateTensors() : [] }

  /// TTQ starts from scales computed on the weight.
  public var needsCalibration: Bool { isEnabled }

  /// Starts observing (the calibrator is not used).
  public func beginCalibration(_ calibrator: any Calibrator) { observed = [] }

  /// Sets `Wp` and `Wn` from the observed values.
  ///
  /// - Throws: ``QuantizerError/notCalibrated(path:)`` when nothing was observed.
  public func endCalibration() throws {
    guard let observed, !observed.isEmpty else { throw QuantizerError.notCalibrated(path: "") }
    self.observed = nil
    let groups = observed.count
    var p = [Float](repeating: 0, count: groups), n = [Float](repeating: 0, count: groups)
    for g in 0..<groups {
      let all = observed[g].filter(\.isFinite)
      let delta = (all.map(Swift.abs).max() ?? 0) * options.threshold
      let pos = all.filter { $0 > delta }, neg = all.filter { $0 < -delta }
      let fallback = Swift.max(delta, 1e-8)
      p[g] = pos.isEmpty ? fallback : pos.reduce(0, +) / Float(pos.count)
      n[g] = neg.isEmpty ? fallback : -neg.reduce(0, +) / Float(neg.count)
    }
    wp = Tensor(p, requiresGrad: options.learnScales)
    wn = Tensor(n, requiresGrad: options.learnScales)
  }

  /// Creates `_wp` and `_wn` with the saved shapes.
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` for other names or shapes.
  public func allocateState(shapes: [String: [Int]]) throws {
    guard shapes.keys.sorted() == ["_wn", "_wp"], let s = shapes["_wp"], s == shapes["_wn"], s.count == 1 else {
      throw QuantizerError.stateMismatch("ttq expects state {_wp: [groups], _wn: [groups]}, got \(shapes)")
    }
    wp = Tensor.full(s, 1, requiresGrad: options.learnScales)
    wn = Tensor.full(s, 1, requiresGrad: options.learnScales)
  }

  /// Ternarizes `w` (or observes it while calibrating).
  public func callAsFunction(_ w: Tensor) -> Tensor {
    precondition(GroupLayout.fits(attributes.granularity, shape: w.shape), "ttq: \(attributes.granularity) does not fit input shape \(w.shape)")
    let layout = GroupLayout(attributes.granularity, shape: w.shape)
    if var seen = observed {
      let batch = layout.batch(w.scalars)
      if seen.isEmpty { seen = Array(repeating: [], count: batch.groupCount) }
      for g in 0..<Swift.min(batch.groupCount, seen.count) {
        seen[g] += batch.values[(g * batch.groupSize)..<((g + 1) * batch.groupSize)]
      }
      observed = seen
      return w
    }
    guard isEnabled, let wp, let wn else { return w }
    precondition(wp.count == layout.groupCount, "ttq: \(wp.count) scale groups, the input needs \(layout.groupCount)")
    return TTQKernel.forward(w, wp: wp, wn: wn, layout: layout, threshold: options.threshold, learnScales: options.learnScales)
  }
}
