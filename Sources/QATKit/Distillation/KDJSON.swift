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

extension ConfigError {
  /// The same error with `prefix` prepended to its key path (for nested specs).
  func prefixed(_ prefix: String, context newContext: String) -> ConfigError {
    func join(_ p: String) -> String {
      if prefix.isEmpty { return p }
      return p.isEmpty ? prefix : (p.hasPrefix("[") ? prefix + p : prefix + "." + p)
    }
    switch self {
    case .invalidJSON: return self
    case .unknownKey(_, let p, let known): return .unknownKey(newContext, path: join(p), known: known)
    case .missingKey(_, let p): return .missingKey(newContext, path: join(p))
    case .wrongType(_, let p, let t): return .wrongType(newContext, path: join(p), expected: t)
    case .invalidValue(_, let p, let m): return .invalidValue(newContext, path: join(p), m)
    }
  }
}
