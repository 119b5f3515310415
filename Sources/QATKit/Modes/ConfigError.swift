/// Errors in mode and quantization configurations; each names the key path at fault.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
  /// The text is not JSON.
  case invalidJSON(String)
  /// A key the configuration does not have (`context`, key path, the keys that exist).
  case unknownKey(String, path: String, known: [String])
  /// A required key is absent.
  case missingKey(String, path: String)
  /// A value of the wrong JSON type.
  case wrongType(String, path: String, expected: String)
  /// A value out of range or otherwise invalid.
  case invalidValue(String, path: String, String)

  /// A message naming the configuration, the key path and what to do.
  public var description: String {
    switch self {
    case .invalidJSON(let m): return "config is not valid JSON: \(m)"
    case .unknownKey(let c, let p, let known):
      let key = p.split(separator: ".").last.map(String.init) ?? p
      // Suggest only a key close enough to be a typo of the given one.
      let near = known.min { editDistance($0, key) < editDistance($1, key) }
        .flatMap { editDistance($0, key) <= Swift.max(2, key.count / 2) ? $0 : nil }
      return "\(c): unknown key '\(p)'" + (near.map { " (did you mean '\($0)'?)" } ?? "") + "; known keys: \(known.joined(separator: ", "))"
    case .missingKey(let c, let p): return "\(c): missing key '\(p)'"
    case .wrongType(let c, let p, let t): return "\(c): '\(p.isEmpty ? "<root>" : p)' has the wrong type, expected \(t)"
    case .invalidValue(let c, let p, let m): return "\(c): invalid value at '\(p.isEmpty ? "<root>" : p)': \(m)"
    }
  }
}

extension ConfigError {
  /// The same error with `prefix` prepended to its key path and `newContext` as its context:
  /// how a container reports an error from a nested spec (`criteria[0].criterion` +
  /// `temperature` → `criteria[0].criterion.temperature`).
  public func prefixed(_ prefix: String, context newContext: String) -> ConfigError {
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
