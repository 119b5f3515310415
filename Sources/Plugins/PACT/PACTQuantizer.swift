import QATKit

/// PACT: parameterized clipping activation (Choi et al., 2018) with a learned per-tensor
/// clipping level `α` (state and parameter `_amax`).
///
/// Forward: clip to `[lo, α]` (`lo = -α` for signed formats, `0` for unsigned), then
/// fake-quantize with step `s = α / maxBound` (round half to even). Backward: the gradient
/// passes to `x` inside the clip range and is 0 outside; `∂y/∂α = 1` above `α`, `-1` below
/// `-α` (signed), and 0 inside (PACT's straight-through estimate).
public final class PACTQuantizer: Quantizer {
  /// Enabled flag.
  public var isEnabled: Bool
  /// The attributes (integer format, per-tensor).
  public let attributes: QuantizerAttributes
  /// The learned clipping level `α`, shape `[1]`.
  public private(set) var alpha: Tensor?
  private var calibrator: (any Calibrator)?
  private let signed: Bool
  private let maxBound: Float

  /// Creates the quantizer.
  ///
  /// - Throws: ``QuantizerError/unsupportedFormat(algorithm:format:reason:)`` unless the format
  ///   is an integer and the range per tensor; ``ConfigError`` for widths outside 2…8 bits and
  ///   attribute combinations the core rejects (``QuantizerAttributes/validate(path:)``).
  public init(attributes: QuantizerAttributes) throws {
    guard case .int(let bits, let s) = attributes.format else {
      throw QuantizerError.unsupportedFormat(
        algorithm: "pact", format: attributes.format, reason: "pact clips to an integer grid; use int2…int8 or uint2…uint8")
    }
    try attributes.validate(path: "")
    guard attributes.granularity == .perTensor else {
      throw QuantizerError.unsupportedFormat(
        algorithm: "pact", format: attributes.format,
        reason: "pact learns one clipping level per tensor; remove axis/blockSize (got \(attributes.granularity))")
    }
    _ = try attributes.decodeAlgorithmOptions(NoOptions.self)
    self.attributes = attributes
    isEnabled = attributes.enable
    signed = s
    maxBound = Float((1 << (bits - (s ? 1 : 0))) - 1)
  }

  /// `_amax` (α) once it exists.
  public func stateTensors() -> [(String, Tensor)] { alpha.map { [("_amax", $0)] } ?? [] }
  /// α is trained.
  public func learnableParameters() -> [(String, Tensor)] { stateTensors() }
  /// PACT starts from a calibrated clipping level.
  public var needsCalibration: Bool { isEnabled }
  /// Starts observing.
  public func beginCalibration(_ calibrator: any Calibrator) { self.calibrator = calibrator }

  /// Sets α from the calibrator.
  public func endCalibration() throws {
    guard let calibrator else { throw QuantizerError.stateMismatch("pact quantizer saw no data during calibration") }
    self.calibrator = nil
    let lo: Float = signed ? -maxBound - 1 : 0
    let target = CalibrationTarget(format: attributes.format) { [maxBound] values, a in
      let s = Swift.max(a, 1e-12) / maxBound
      return values.map { Swift.min(Swift.max(($0 / s).rounded(.toNearestOrEven), lo), maxBound) * s }
    }
    guard let r = try calibrator.computeAmax(for: target)?.first else {
      throw QuantizerError.stateMismatch("calibrator returned no range for the pact quantizer")
    }
    alpha = Tensor([Swift.max(r, 1e-8)], requiresGrad: true)
  }

  /// Creates α with the saved shape `[1]`.
  public func allocateState(shapes: [String: [Int]]) throws {
    guard shapes == ["_amax": [1]] else { throw QuantizerError.stateMismatch("pact expects {_amax: [1]}, got \(shapes)") }
    alpha = Tensor([1], requiresGrad: true)
  }

  /// Clips and fake-quantizes (or observes while calibrating).
  public func callAsFunction(_ x: Tensor) -> Tensor {
    if let calibrator {
      calibrator.collect(CalibrationBatch(groupCount: 1, groupSize: x.count, values: x.scalars))
      return x
    }
    guard isEnabled, let alpha else { return x }
    let a = Swift.max(alpha.scalars[0], 1e-12)
    let lo = signed ? -a : 0
    let s = a / maxBound
    let xs = x.scalars
    var y = [Float](repeating: 0, count: xs.count)
    var dx = [Float](repeating: 0, count: xs.count)
    var da = [Float](repeating: 0, count: xs.count)
    for i in 0..<xs.count {
      let v = xs[i]
      let c = Swift.min(Swift.max(v, lo), a)
      y[i] = (c / s).rounded(.toNearestOrEven) * s
      dx[i] = v >= lo && v <= a ? 1 : 0
      da[i] = v > a ? 1 : (signed && v < lo ? -1 : 0)
    }
    let shape = x.shape
    return (try! Tensor(y, shape: shape)).recording("pact", inputs: [x, alpha]) { g in
      let gs = g.scalars
      var gx = [Float](repeating: 0, count: gs.count)
      var ga: Float = 0
      for i in 0..<gs.count {
        gx[i] = gs[i] * dx[i]
        ga += gs[i] * da[i]
      }
      return [try! Tensor(gx, shape: shape), Tensor([ga])]
    }
  }
}
