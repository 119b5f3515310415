/// Errors from quantizers, calibration and export (configuration errors are ``ConfigError``).
public enum QuantizerError: Error, Equatable, CustomStringConvertible {
  /// Saved state does not fit the quantizer being restored.
  case stateMismatch(String)
  /// The quantizer cannot produce real codes.
  case exportUnsupported(String)
  /// Activation quantizers need a calibration loop that was not given.
  case missingForwardLoop(paths: [String])
  /// A quantizer saw no data during calibration.
  case notCalibrated(path: String)
  /// Exported codes do not dequantize to the fake-quantized tensor.
  case exportMismatch(path: String, String)
  /// A calibrator or the calibration loop failed.
  case calibrationFailed(path: String, String)
  /// A quantizer algorithm cannot quantize to `format` (a number format, bit width or
  /// granularity it does not implement), e.g. LSQ with FP8 or PACT per channel. `reason` says
  /// what the algorithm supports. Plugins throw it from their quantizer's initializer; bit
  /// widths outside 2…8 are ``ConfigError``s from ``QuantizerAttributes/validate(path:)``,
  /// exactly as for the built-in quantizer.
  case unsupportedFormat(algorithm: String, format: QuantFormat, reason: String)
  /// The quantizer at `path` cannot take an input of `shape` (axis out of range, a block size
  /// that does not divide the last dimension, a static range with another number of groups):
  /// see ``Quantizer/validate(inputShape:)`` and ``Module/checkedForward(_:)``.
  case incompatibleInput(path: String, shape: [Int], String)

  /// A message naming the quantizer and what to do.
  public var description: String {
    switch self {
    case .stateMismatch(let m): return "quantizer state mismatch: \(m)"
    case .exportUnsupported(let m): return "export unsupported: \(m)"
    case .missingForwardLoop(let paths):
      return "static activation quantizers need calibration data but no forward loop was given: "
        + paths.joined(separator: ", ")
        + ". Pass forwardLoop (a closure running the model over a few batches), make them dynamic, or disable them"
    case .notCalibrated(let p):
      return "quantizer '\(p)' saw no data during calibration: the forward loop never reached it (disable it or make it dynamic)"
    case .exportMismatch(let p, let m): return "export of '\(p)' does not reproduce the fake-quantized tensor: \(m)"
    case .calibrationFailed(let p, let m): return "calibration of '\(p)' failed: \(m)"
    case .unsupportedFormat(let algorithm, let format, let reason):
      return "quantizer algorithm '\(algorithm)' does not support \(format): \(reason)"
    case .incompatibleInput(let p, let shape, let m):
      return "quantizer '\(p.isEmpty ? "<unnamed>" : p)' cannot take an input of shape \(shape): \(m)"
    }
  }
}
