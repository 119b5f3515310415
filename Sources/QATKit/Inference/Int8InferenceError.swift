/// Why a model cannot run with integer arithmetic.
public enum Int8InferenceError: Error, Equatable, CustomStringConvertible {
  /// The model's structure is not supported (the message names the layer and what is).
  case unsupportedModel(String)
  /// A layer's quantizers do not describe INT8 integer inference (the message says which and why).
  case unsupportedQuantizer(path: String, String)
  /// The CPU cannot run the requested instruction set.
  case unsupportedInstructionSet(Int8InstructionSet)

  /// A message naming the problem and what to do.
  public var description: String {
    switch self {
    case .unsupportedModel(let m):
      return "integer inference: unsupported model: \(m)"
    case .unsupportedQuantizer(let p, let m):
      return "integer inference: layer '\(p)': \(m). Quantize it with INT8 weights per channel (axis 0) or per tensor "
        + "and a calibrated INT8 per-tensor input quantizer (e.g. the int8 preset), output quantizer disabled"
    case .unsupportedInstructionSet(let isa):
      return "integer inference: this CPU cannot run \(isa); use Int8InstructionSet.best (\(Int8InstructionSet.best))"
    }
  }
}
