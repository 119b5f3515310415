import Foundation

/// Errors from loading and validating transformer models, tokenizers and their files.
///
/// Every case says which file or key is at fault and what to do about it.
public enum TransformersError: Error, Equatable, CustomStringConvertible {
  /// A file the model directory must contain is missing or unreadable.
  case missingFile(path: String, hint: String)
  /// A file is present but malformed (not JSON, not UTF-8, empty, ...).
  case malformedFile(path: String, reason: String)
  /// A configuration key is missing, of the wrong type or out of range.
  case invalidConfig(file: String, key: String, reason: String)
  /// The model asks for something this implementation does not support.
  case unsupported(String)
  /// The weights file does not match the architecture in `config.json`.
  case weightsMismatch(path: String, reason: String)
  /// Input to a tokenizer or model that cannot be processed.
  case invalidInput(String)

  /// A message naming the problem and what to do.
  public var description: String {
    switch self {
    case .missingFile(let path, let hint): "cannot read \(path): \(hint)"
    case .malformedFile(let path, let reason): "\(path) is malformed: \(reason)"
    case .invalidConfig(let file, let key, let reason): "\(file): invalid '\(key)': \(reason)"
    case .unsupported(let what): "unsupported: \(what)"
    case .weightsMismatch(let path, let reason): "\(path) does not fit the model: \(reason)"
    case .invalidInput(let what): "invalid input: \(what)"
    }
  }
}
