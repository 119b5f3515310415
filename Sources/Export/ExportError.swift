/// Errors from exporting a model to a deployment format or importing one back. Every case
/// says what is wrong and what to do.
public enum ExportError: Error, Equatable, CustomStringConvertible {
  /// The model has no enabled weight quantizer: there is nothing to deploy in quantized form.
  case noQuantizers(String)
  /// A layer's quantization has no representation in the target format (the layer is named).
  case unsupported(layer: String, String)
  /// The output exists and overwriting was not requested.
  case destinationExists(String)
  /// The output cannot be written (missing parent directory, permissions, disk).
  case cannotWrite(path: String, String)
  /// The written files do not reproduce the model (self-verification); nothing was left behind.
  case verificationFailed(String)
  /// An input file (unified checkpoint, ONNX model) is missing, malformed or inconsistent.
  case malformed(path: String, String)
  /// An imported checkpoint does not fit the model it is loaded into.
  case modelMismatch(String)

  /// The message.
  public var description: String {
    switch self {
    case .noQuantizers(let m):
      return "nothing to export in quantized form: \(m). Quantize the model first (convert with a quantize mode, or restore a quantized checkpoint)"
    case .unsupported(let layer, let m): return "layer '\(layer)': \(m)"
    case .destinationExists(let p): return "\(p) already exists; choose another output or pass force (--force) to replace it"
    case .cannotWrite(let p, let m): return "cannot write \(p): \(m)"
    case .verificationFailed(let m): return "self-verification of the export failed (nothing was written): \(m)"
    case .malformed(let p, let m): return "\(p): \(m)"
    case .modelMismatch(let m): return "the checkpoint does not fit the model: \(m)"
    }
  }
}
