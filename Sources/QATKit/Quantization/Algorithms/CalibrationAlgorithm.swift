/// A calibration-time transformation of a model that the `quantize` mode runs in place of plain
/// calibration: ModelOpt's `algorithm` field (`awq_lite`, `smoothquant`, `gptq`, ...).
///
/// Such an algorithm is not a quantizer: it runs once, after the `quantize` mode has put the
/// configured quantizers into their slots and before anything is recorded, and it may change the
/// model — scale or re-round weights, set `pre_quant_scale` factors on input quantizers, fold
/// scales into the layer before (see ``ScaleFold``) — as long as every change ends up in what a
/// checkpoint saves: parameters, and quantizer state recorded by the mode. It must leave every
/// quantizer of the session calibrated, usually by calling ``CalibrationSession/calibrate(weights:activations:)``
/// at the right moment. Restoring a checkpoint therefore never runs the algorithm again (nor
/// needs its plugin): the weights and quantizer state it produced are loaded as they were saved.
///
/// Plugins register algorithms by name (`registry.register(algorithm:summary:factory:)`); a
/// config selects one with `"algorithm": {"method": "<name>", ...options}` (or the bare name).
/// The built-in `"max"` algorithm is plain calibration (each quantizer's calibrator).
public protocol CalibrationAlgorithm: AnyObject {
  /// Transforms the model and calibrates the session's quantizers.
  ///
  /// - Returns: A JSON report of what the algorithm did (per-layer choices, timings), recorded
  ///   in the `quantize` mode's metadata under `"algorithm"`; it is informational and never
  ///   read back.
  /// - Throws: Anything that stops the conversion; the `convert` call then puts the model back
  ///   exactly as it was.
  func run(_ session: CalibrationSession) throws -> JSONValue
}

/// Builds a calibration algorithm from its options (the spec's keys other than `method`, an
/// object, `{}` when none were given). Throw ``ConfigError`` with key paths relative to the
/// options (`alphaStep`); the mode reports them under `algorithm`.
public typealias CalibrationAlgorithmFactory = @Sendable (JSONValue) throws -> any CalibrationAlgorithm

/// The built-in `"max"` algorithm: every quantizer calibrates with its own calibrator, weights
/// first, then activations over the forward loop (what the `quantize` mode does without an
/// algorithm).
public final class PlainCalibration: CalibrationAlgorithm {
  /// Creates the algorithm.
  public init() {}

  /// Calibrates every quantizer of the session; reports nothing.
  public func run(_ session: CalibrationSession) throws -> JSONValue {
    try session.calibrate()
    return .object([:])
  }
}
