import QATKit

/// Learned Step Size Quantization (Esser et al., ICLR 2020) for integer formats, at any
/// granularity (per-tensor, per-channel on any axis, per-block of the last axis).
///
/// The range `_amax` is a trainable parameter (one per group); the step is
/// `s = amax / maxBound`. Forward: `q = clamp(rne(x / s), minBound, maxBound)`, `y = q · s`.
/// Backward: `∂y/∂x = 1` where `minBound ≤ x/s ≤ maxBound` (clipping STE) and 0 outside;
/// `∂y/∂s = q − x/s` inside and `q` (the clipped bound) outside, scaled by LSQ's gradient
/// factor `1 / √(n_group · maxBound)` and divided by `maxBound` for `amax`.
///
/// The initial range comes from the configured calibrator (`max` by default; `mse` or
/// `percentile` start closer to the optimum), so `quantize` with `algorithm: "lsq"` first
/// runs PTQ and then learns from there; or from another quantizer's range (``setRange(_:)``,
/// the `lsq_ranges` mode after a calibration algorithm).
///
/// An optional fixed ``preQuantScale`` (`_pre_quant_scale`, as on the built-in quantizer:
/// SmoothQuant / AWQ factors that could not fold) multiplies the input along its last axis
/// before quantization; it is state, not learned.
public final class LSQQuantizer: Quantizer {
  /// Enabled flag.
  public var isEnabled: Bool
  /// The attributes (format must be an integer format).
  public let attributes: QuantizerAttributes
  /// The learned range, one value per group; created at calibration or restore.
  public private(set) var amax: Tensor?
  /// Per-input-channel factors applied before quantizing (`_pre_quant_scale`), or `nil`.
  public private(set) var preQuantScale: Tensor?
  private var calibrator: (any Calibrator)?
  private var layout: GroupLayout?
  private let minBound: Float, maxBound: Float
  private let gradScaleEnabled: Bool

  /// Options under `algorithmOptions` (absent keys take these defaults).
  public struct Options: PluginOptions {
    /// Apply LSQ's gradient scale `1/√(n·maxBound)` (default true).
    public var gradScale: Bool = true
    /// The defaults.
    public init() {}
  }

  /// Creates the quantizer.
  ///
  /// - Throws: ``QuantizerError/unsupportedFormat(algorithm:format:reason:)`` for non-integer
  ///   formats, ``ConfigError`` for widths outside 2…8 bits, attribute combinations the core
  ///   rejects (``QuantizerAttributes/validate(path:)``) and bad options.
  public init(attributes: QuantizerAttributes) throws {
    guard case .int(let bits, let signed) = attributes.format else {
      throw QuantizerError.unsupportedFormat(
        algorithm: "lsq", format: attributes.format, reason: "lsq learns integer step sizes; use int2…int8 or uint2…uint8")
    }
    try attributes.validate(path: "")
    let options = try attributes.decodeAlgorithmOptions(Options.self)
    self.attributes = attributes
    isEnabled = attributes.enable
    let mb = Float((1 << (bits - (signed ? 1 : 0))) - 1)
    maxBound = mb
    minBound = signed ? (attributes.narrowRange ? -mb : -mb - 1) : 0
    gradScaleEnabled = options.gradScale
  }

  /// `_amax` once it exists, and `_pre_quant_scale` when set.
  public func stateTensors() -> [(String, Tensor)] {
    (amax.map { [("_amax", $0)] } ?? []) + (preQuantScale.map { [("_pre_quant_scale", $0)] } ?? [])
  }

  /// `_amax` is trained (the `pre_quant_scale` is not).
  public func learnableParameters() -> [(String, Tensor)] { amax.map { [("_amax", $0)] } ?? [] }

  /// Sets the initial learned range, one value per group in the order of the built-in
  /// quantizer's `_amax` (flattened): e.g. a range a calibration algorithm chose.
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` for an empty list or a value that is not
  ///   positive and finite.
  public func setRange(_ values: [Float]) throws {
    guard !values.isEmpty else { throw QuantizerError.stateMismatch("lsq: an initial range needs at least one value") }
    if let bad = values.first(where: { !($0 > 0 && $0.isFinite) }) {
      throw QuantizerError.stateMismatch("lsq: initial ranges must be positive and finite, found \(bad)")
    }
    amax = Tensor(values.map { Swift.max($0, 1e-8) }, requiresGrad: true)
  }

  /// Sets (or clears) the fixed pre-quantization scale: one positive finite factor per element
  /// of the input's last axis (ModelOpt's `_pre_quant_scale`).
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` for a tensor that is not 1-D or holds a
  ///   factor that is not positive and finite.
  public func setPreQuantScale(_ value: Tensor?) throws {
    preQuantScale = try value.map(TensorQuantizer.validatedPreQuantScale)
  }

  /// LSQ always starts from a calibrated range.
  public var needsCalibration: Bool { isEnabled }

  /// Starts observing.
  public func beginCalibration(_ calibrator: any Calibrator) {
    self.calibrator = calibrator
    layout = nil
  }

  /// Sets the initial learned range from the calibrator.
  public func endCalibration() throws {
    guard let calibrator, let layout else {
      throw QuantizerError.stateMismatch("lsq quantizer saw no data during calibration")
    }
    self.calibrator = nil
    let target = CalibrationTarget(format: attributes.format) { [minBound, maxBound] values, a in
      let s = Swift.max(a, 1e-12) / maxBound
      return values.map { Swift.min(Swift.max(($0 / s).rounded(.toNearestOrEven), minBound), maxBound) * s }
    }
    guard let ranges = try calibrator.computeAmax(for: target), ranges.count == layout.groupCount else {
      throw QuantizerError.stateMismatch("calibrator returned no range for the lsq quantizer")
    }
    amax = Tensor(ranges.map { Swift.max($0, 1e-8) }, requiresGrad: true)
  }

  /// Creates `_amax` (and `_pre_quant_scale`) with the saved shapes (no `_amax` for a disabled
  /// quantizer saved uncalibrated).
  public func allocateState(shapes: [String: [Int]]) throws {
    var rest = shapes
    if let p = rest.removeValue(forKey: "_pre_quant_scale") {
      guard p.count == 1, p[0] > 0 else {
        throw QuantizerError.stateMismatch("_pre_quant_scale must be 1-D and non-empty, the checkpoint has shape \(p)")
      }
      preQuantScale = Tensor.ones(p)
    } else {
      preQuantScale = nil
    }
    // A quantizer saved before it had a range (disabled, so never calibrated) has no range.
    if rest.isEmpty, !isEnabled { amax = nil; return }
    guard rest.keys.sorted() == ["_amax"], let s = rest["_amax"], s.count == 1 else {
      throw QuantizerError.stateMismatch("lsq expects state {_amax: [groups]} (and optionally _pre_quant_scale: [channels]), got \(shapes)")
    }
    amax = Tensor.full(s, 1, requiresGrad: true)
  }

  /// Checks that the granularity fits `shape` and that the learned range (or, while
  /// calibrating, the inputs seen so far) has one entry per group.
  ///
  /// - Throws: ``QuantizerError/incompatibleInput(path:shape:_:)``.
  public func validate(inputShape shape: [Int]) throws {
    if let preQuantScale, shape.last != preQuantScale.count {
      throw QuantizerError.incompatibleInput(
        path: "", shape: shape, "lsq: pre_quant_scale has \(preQuantScale.count) factors but the last dimension is \(shape.last.map { "\($0)" } ?? "(rank 0)")")
    }
    guard GroupLayout.fits(attributes.granularity, shape: shape) else {
      throw QuantizerError.incompatibleInput(path: "", shape: shape, "lsq: \(attributes.granularity) does not fit")
    }
    let groups = GroupLayout(attributes.granularity, shape: shape).groupCount
    if calibrator != nil, let layout, layout.groupCount != groups {
      throw QuantizerError.incompatibleInput(
        path: "", shape: shape, "lsq: calibration saw \(layout.groupCount) range groups, now \(groups)")
    }
    if calibrator == nil, isEnabled, let amax, amax.count != groups {
      throw QuantizerError.incompatibleInput(
        path: "", shape: shape, "lsq: the learned range has \(amax.count) groups, this input \(groups)")
    }
  }

  /// Fake-quantizes with the learned range (or observes while calibrating).
  public func callAsFunction(_ input: Tensor) -> Tensor {
    var x = input
    if let preQuantScale {
      precondition(
        x.shape.last == preQuantScale.count,
        "lsq: pre_quant_scale has \(preQuantScale.count) factors but the input's last axis is \(x.shape.last ?? 0)")
      x = x * preQuantScale
    }
    precondition(
      GroupLayout.fits(attributes.granularity, shape: x.shape),
      "lsq: \(attributes.granularity) does not fit input shape \(x.shape)")
    let lay = GroupLayout(attributes.granularity, shape: x.shape)
    layout = lay
    if let calibrator {
      calibrator.collect(lay.batch(x.scalars))
      return x
    }
    guard isEnabled, let amax else { return x }
    precondition(amax.count == lay.groupCount, "lsq: range has \(amax.count) groups, input needs \(lay.groupCount)")
    return LSQKernel.forward(x, amax: amax, layout: lay, minBound: minBound, maxBound: maxBound, gradScale: gradScaleEnabled)
  }
}
