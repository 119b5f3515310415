/// Reads one JSON object strictly for hand-written decoders (architecture files, ModelOpt
/// configs, recipes): typed accessors that report the key path on a wrong type, and a final
/// check that names any key nobody read, with the nearest known key.
package struct StrictObject {
  /// The document kind for messages (`"architecture"`).
  package let context: String
  /// The key path of this object (`layers[2]`), empty at the root.
  package let path: String
  /// The object's members.
  package let members: [String: JSONValue]
  private var read: Set<String> = []

  /// Wraps `json`, which must be an object.
  ///
  /// - Throws: ``ConfigError/wrongType(_:path:expected:)``.
  package init(_ json: JSONValue, context: String, path: String = "") throws {
    guard case .object(let o) = json else {
      throw ConfigError.wrongType(context, path: path, expected: "a JSON object")
    }
    self.context = context
    self.path = path
    members = o
  }

  /// `path.key` (or `key` at the root).
  package func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

  /// Whether `key` is present (and not `null`); marks it read.
  package mutating func has(_ key: String) -> Bool {
    read.insert(key)
    if let v = members[key], v != .null { return true }
    return false
  }

  /// The raw value of `key` (nil when absent or `null`); marks it read.
  package mutating func value(_ key: String) -> JSONValue? {
    read.insert(key)
    if let v = members[key], v != .null { return v }
    return nil
  }

  /// An integer value.
  package mutating func int(_ key: String) throws -> Int? {
    guard let v = value(key) else { return nil }
    guard case .number(let d) = v, d.rounded() == d, abs(d) < 1e15 else {
      throw ConfigError.wrongType(context, path: keyPath(key), expected: "an integer")
    }
    return Int(d)
  }

  /// A number value.
  package mutating func double(_ key: String) throws -> Double? {
    guard let v = value(key) else { return nil }
    guard case .number(let d) = v, d.isFinite else {
      throw ConfigError.wrongType(context, path: keyPath(key), expected: "a number")
    }
    return d
  }

  /// A Boolean value.
  package mutating func bool(_ key: String) throws -> Bool? {
    guard let v = value(key) else { return nil }
    guard case .bool(let b) = v else { throw ConfigError.wrongType(context, path: keyPath(key), expected: "true or false") }
    return b
  }

  /// A string value.
  package mutating func string(_ key: String) throws -> String? {
    guard let v = value(key) else { return nil }
    guard case .string(let s) = v else { throw ConfigError.wrongType(context, path: keyPath(key), expected: "a string") }
    return s
  }

  /// An array of integers.
  package mutating func ints(_ key: String) throws -> [Int]? {
    guard let v = value(key) else { return nil }
    guard case .array(let a) = v else { throw ConfigError.wrongType(context, path: keyPath(key), expected: "an array of integers") }
    return try a.enumerated().map { i, e in
      guard case .number(let d) = e, d.rounded() == d, abs(d) < 1e15 else {
        throw ConfigError.wrongType(context, path: "\(keyPath(key))[\(i)]", expected: "an integer")
      }
      return Int(d)
    }
  }

  /// An array value.
  package mutating func array(_ key: String) throws -> [JSONValue]? {
    guard let v = value(key) else { return nil }
    guard case .array(let a) = v else { throw ConfigError.wrongType(context, path: keyPath(key), expected: "an array") }
    return a
  }

  /// A required value: throws ``ConfigError/missingKey(_:path:)`` when absent.
  package func required<T>(_ value: T?, _ key: String) throws -> T {
    guard let value else { throw ConfigError.missingKey(context, path: keyPath(key)) }
    return value
  }

  /// Throws ``ConfigError/unknownKey(_:path:known:)`` for the first key (sorted) that was not
  /// read, listing `known` (every key this object may have, in any accepted spelling).
  package func finish(known: [String]) throws {
    for key in members.keys.sorted() where !read.contains(key) {
      throw ConfigError.unknownKey(context, path: keyPath(key), known: known)
    }
  }

  /// Throws ``ConfigError/unknownKey(_:path:known:)`` for the first key (sorted) not in
  /// `known`, before any value is read (so a misspelled required key is reported as a typo,
  /// not as missing).
  package func rejectUnknown(known: [String]) throws {
    for key in members.keys.sorted() where !known.contains(key) {
      throw ConfigError.unknownKey(context, path: keyPath(key), known: known.sorted())
    }
  }

  /// Throws for the first key that was not read, listing the keys that were.
  package func finish() throws { try finish(known: read.sorted()) }
}
