import Foundation

/// A JSON document: mode configs and metadata are stored as these in checkpoints.
public enum JSONValue: Codable, Hashable, Sendable {
  /// `null`.
  case null
  /// `true` / `false`.
  case bool(Bool)
  /// A number.
  case number(Double)
  /// A string.
  case string(String)
  /// An array.
  case array([JSONValue])
  /// An object.
  case object([String: JSONValue])

  /// Decodes any JSON value.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if c.decodeNil() { self = .null }
    else if let b = try? c.decode(Bool.self) { self = .bool(b) }
    else if let d = try? c.decode(Double.self) { self = .number(d) }
    else if let s = try? c.decode(String.self) { self = .string(s) }
    else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
    else { self = .object(try c.decode([String: JSONValue].self)) }
  }

  /// Encodes the value.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    switch self {
    case .null: try c.encodeNil()
    case .bool(let b): try c.encode(b)
    case .number(let d): try c.encode(d)
    case .string(let s): try c.encode(s)
    case .array(let a): try c.encode(a)
    case .object(let o): try c.encode(o)
    }
  }

  /// Parses JSON text.
  ///
  /// - Throws: ``ConfigError/invalidJSON(_:)``.
  public init(parsing text: String) throws {
    do { self = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) } catch {
      throw ConfigError.invalidJSON("\(error)")
    }
  }

  /// Compact JSON text with sorted keys.
  public var text: String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? enc.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "null"
  }

  /// The value at `key` of an object.
  public subscript(key: String) -> JSONValue? {
    if case .object(let o) = self { return o[key] }
    return nil
  }
}

extension JSONValue {
  /// Encodes any `Encodable` value as a JSON document.
  public static func encoding(_ value: some Encodable) throws -> JSONValue {
    let data = try JSONEncoder().encode(value)
    return try JSONDecoder().decode(JSONValue.self, from: data)
  }

  /// Decodes `T` strictly: unknown keys anywhere are errors naming their key path, as are
  /// missing keys and wrong types.
  ///
  /// - Throws: ``ConfigError``.
  public func decode<T: Codable>(_ type: T.Type, context: String) throws -> T {
    let value: T
    do {
      value = try JSONDecoder().decode(T.self, from: JSONEncoder().encode(self))
    } catch let DecodingError.keyNotFound(key, ctx) {
      throw ConfigError.missingKey(context, path: Self.path(ctx.codingPath + [key]))
    } catch let DecodingError.typeMismatch(t, ctx) {
      throw ConfigError.wrongType(context, path: Self.path(ctx.codingPath), expected: "\(t)")
    } catch let DecodingError.valueNotFound(t, ctx) {
      throw ConfigError.wrongType(context, path: Self.path(ctx.codingPath), expected: "\(t)")
    } catch let DecodingError.dataCorrupted(ctx) {
      // Foundation reports a number beyond Int's range as invalid JSON at the root: name it.
      if let (path, number) = Self.firstHugeNumber(self, path: []) {
        throw ConfigError.invalidValue(
          context, path: path, "\(number) is outside the range of integers (|x| < 2^63); use a smaller number")
      }
      // Foundation also reports a fractional number where an integer is expected as invalid
      // JSON at the root: name the first fractional number, the likely culprit.
      if ctx.codingPath.isEmpty, let (path, number) = Self.firstNumber(self, path: [], where: { $0.rounded() != $0 }) {
        throw ConfigError.invalidValue(
          context, path: path, "\(number) is not a whole number; sizes, shapes, axes and bit widths are integers")
      }
      throw ConfigError.invalidValue(context, path: Self.path(ctx.codingPath), ctx.debugDescription)
    } catch let e as ConfigError {
      throw e
    } catch {
      throw ConfigError.invalidValue(context, path: "", "\(error)")
    }
    let known = try JSONValue.encoding(value)
    if let unknown = Self.firstUnknownKey(self, known: known, path: []) {
      throw ConfigError.unknownKey(context, path: unknown.path, known: unknown.known)
    }
    return value
  }

  private static func path(_ keys: [any CodingKey]) -> String {
    keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
  }

  /// The key path of the first number whose magnitude is 2^63 or more (or not finite), which
  /// no integer field can hold.
  private static func firstHugeNumber(_ value: JSONValue, path: [String]) -> (String, Double)? {
    firstNumber(value, path: path) { !(Swift.abs($0) < 0x1p63) }
  }

  /// The key path and value of the first number (keys in sorted order) that `matches`.
  private static func firstNumber(_ value: JSONValue, path: [String], where matches: (Double) -> Bool) -> (String, Double)? {
    switch value {
    case .number(let d) where matches(d):
      return (path.joined(separator: ".").replacingOccurrences(of: ".[", with: "["), d)
    case .object(let o):
      for key in o.keys.sorted() {
        if let hit = firstNumber(o[key]!, path: path + [key], where: matches) { return hit }
      }
    case .array(let a):
      for (i, v) in a.enumerated() {
        if let hit = firstNumber(v, path: path + ["[\(i)]"], where: matches) { return hit }
      }
    default: break
    }
    return nil
  }

  private static func firstUnknownKey(_ given: JSONValue, known: JSONValue, path: [String]) -> (path: String, known: [String])? {
    switch (given, known) {
    case (.object(let g), .object(let k)):
      for key in g.keys.sorted() {
        guard let kv = k[key] else {
          // A key whose value is null may be an omitted optional.
          if g[key] == .null { continue }
          return ((path + [key]).joined(separator: "."), k.keys.sorted())
        }
        if let u = firstUnknownKey(g[key]!, known: kv, path: path + [key]) { return u }
      }
    case (.array(let g), .array(let k)):
      for (i, (gv, kv)) in zip(g, k).enumerated() {
        if let u = firstUnknownKey(gv, known: kv, path: path + ["[\(i)]"]) { return u }
      }
    default: break
    }
    return nil
  }
}
