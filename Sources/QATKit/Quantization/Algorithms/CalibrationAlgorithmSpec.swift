/// The `algorithm` of a ``QuantizeConfig``: a method name and its options, in ModelOpt's form.
///
/// JSON: the bare name (`"awq_lite"`) or an object whose `method` names the algorithm and whose
/// other keys are its options (`{"method": "awq_lite", "alphaStep": 0.1}`). The options are
/// checked by the algorithm's factory, strictly: an unknown key is an error naming
/// `algorithm.<key>`. The spec is recorded with the `quantize` mode, so a checkpoint says how its
/// weights were produced; restoring it does not run the algorithm again.
public struct CalibrationAlgorithmSpec: Codable, Hashable, Sendable, CustomStringConvertible {
  /// The registered algorithm name (`"max"`, `"awq_lite"`, `"smoothquant"`, `"gptq"`, ...).
  public var method: String
  /// The options: a JSON object (empty for the defaults).
  public var options: JSONValue

  /// Creates a spec; `options` must be a JSON object.
  public init(_ method: String, options: JSONValue = .object([:])) {
    self.method = method
    self.options = options
  }

  /// Decodes the bare name or `{"method": ..., options...}`.
  public init(from decoder: any Decoder) throws {
    let value = try JSONValue(from: decoder)
    switch value {
    case .string(let name):
      method = name
      options = .object([:])
    case .object(var object):
      guard case .string(let name)? = object.removeValue(forKey: "method") else {
        throw DecodingError.dataCorrupted(
          .init(codingPath: decoder.codingPath, debugDescription: "an algorithm object needs a \"method\" string, e.g. {\"method\": \"awq_lite\"}"))
      }
      method = name
      options = .object(object)
    default:
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "an algorithm is a name (\"awq_lite\") or {\"method\": name, ...options}"))
    }
  }

  /// Encodes `{"method": ..., options...}`.
  public func encode(to encoder: any Encoder) throws {
    var object: [String: JSONValue] = [:]
    if case .object(let o) = options { object = o }
    object["method"] = .string(method)
    try JSONValue.object(object).encode(to: encoder)
  }

  /// `awq_lite {"alphaStep":0.1}`.
  public var description: String {
    if case .object(let o) = options, o.isEmpty { return method }
    return "\(method) \(options.text)"
  }
}
