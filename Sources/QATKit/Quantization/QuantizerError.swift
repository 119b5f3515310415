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
    }
  }
}
