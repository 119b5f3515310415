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
/// runs PTQ and then learns from there.
public final class LSQQuantizer: Quantizer {
  /// Enabled flag.
  public var isEnabled: Bool
  /// The attributes (format must be an integer format).
  public let attributes: QuantizerAttributes
  /// The learned range, one value per group; created at calibration or restore.
  public private(set) var amax: Tensor?
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

  /// `_amax` once it exists.
  public func stateTensors() -> [(String, Tensor)] { amax.map { [("_amax", $0)] } ?? [] }

  /// `_amax` is trained.
  public func learnableParameters() -> [(String, Tensor)] { stateTensors() }

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

  /// Creates `_amax` with the saved shape (none for a disabled quantizer saved uncalibrated).
  public func allocateState(shapes: [String: [Int]]) throws {
    // A quantizer saved before it had a range (disabled, so never calibrated) has no state.
    if shapes.isEmpty, !isEnabled { amax = nil; return }
    guard shapes.keys.sorted() == ["_amax"], let s = shapes["_amax"], s.count == 1 else {
      throw QuantizerError.stateMismatch("lsq expects state {_amax: [groups]}, got \(shapes)")
    }
    amax = Tensor.full(s, 1, requiresGrad: true)
  }

  /// Checks that the granularity fits `shape` and that the learned range (or, while
  /// calibrating, the inputs seen so far) has one entry per group.
  ///
  /// - Throws: ``QuantizerError/incompatibleInput(path:shape:_:)``.
  public func validate(inputShape shape: [Int]) throws {
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
  public func callAsFunction(_ x: Tensor) -> Tensor {
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
