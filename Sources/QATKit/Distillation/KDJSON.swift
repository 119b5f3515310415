/// Strict decoding of the JSON specs of the built-in criteria and balancers.
enum KDJSON {
  /// Decodes `T` from `json` and checks its `kind` (absent or equal to `kind`).
  static func decode<T: Codable & KindTagged>(_ type: T.Type, from json: JSONValue, kind: String) throws -> T {
    let context = "\(kind) spec"
    guard case .object = json else {
      throw ConfigError.wrongType(context, path: "", expected: "a JSON object")
    }
    let value = try json.decode(T.self, context: context)
    if let k = value.kind, k != kind {
      throw ConfigError.invalidValue(context, path: "kind", "expected \"\(kind)\", got \"\(k)\"")
    }
    return value
  }

  /// `value` when it is finite and positive, else a config error naming `path`.
  static func positive(_ value: Float, _ context: String, _ path: String) throws -> Float {
    guard value.isFinite, value > 0 else {
      throw ConfigError.invalidValue(context, path: path, "must be a finite number > 0, got \(value)")
    }
    return value
  }
}

/// A spec with an optional `kind` tag.
protocol KindTagged {
  var kind: String? { get }
}
