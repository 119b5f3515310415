import Foundation
import QATKit

/// Reading HuggingFace JSON files (`config.json`, `tokenizer_config.json`, ...) as user
/// input: every access checks the type and names the file and key on failure. Unknown keys
/// are ignored (these files carry many keys for other tools).
struct JSONFile {
  /// The file, for messages.
  let url: URL
  /// The top-level object.
  let object: [String: JSONValue]

  /// Reads and parses the file at `url`; its top level must be an object.
  init(_ url: URL) throws {
    guard let data = FileManager.default.contents(atPath: url.path) else {
      throw TransformersError.missingFile(path: url.path, hint: "the file does not exist or cannot be read")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw TransformersError.malformedFile(path: url.path, reason: "not UTF-8 text")
    }
    let value: JSONValue
    do { value = try JSONValue(parsing: text) } catch {
      throw TransformersError.malformedFile(path: url.path, reason: "not valid JSON (\(error))")
    }
    guard case .object(let o) = value else {
      throw TransformersError.malformedFile(path: url.path, reason: "the top level is not a JSON object")
    }
    self.url = url
    object = o
  }

  private func fail(_ key: String, _ expected: String, _ got: JSONValue) -> TransformersError {
    .invalidConfig(file: url.lastPathComponent, key: key, reason: "expected \(expected), got \(got.text)")
  }

  /// An optional boolean (`null` or absent is `nil`).
  func bool(_ key: String) throws -> Bool? {
    switch object[key] {
    case nil, .null?: return nil
    case .bool(let b)?: return b
    case let v?: throw fail(key, "true or false", v)
    }
  }

  /// An optional string.
  func string(_ key: String) throws -> String? {
    switch object[key] {
    case nil, .null?: return nil
    case .string(let s)?: return s
    case let v?: throw fail(key, "a string", v)
    }
  }

  /// An optional integer (a number without a fractional part).
  func int(_ key: String) throws -> Int? {
    switch object[key] {
    case nil, .null?: return nil
    case .number(let d)? where d.rounded() == d && Swift.abs(d) < 1e15: return Int(d)
    case let v?: throw fail(key, "an integer", v)
    }
  }

  /// An optional finite number.
  func double(_ key: String) throws -> Double? {
    switch object[key] {
    case nil, .null?: return nil
    case .number(let d)? where d.isFinite: return d
    case let v?: throw fail(key, "a number", v)
    }
  }

  /// Whether `key` is present and not `null`.
  func has(_ key: String) -> Bool {
    if let v = object[key], v != .null { return true }
    return false
  }
}
