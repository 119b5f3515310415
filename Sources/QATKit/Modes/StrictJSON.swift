/// Options with a default for every key: the form plugins give their `algorithmOptions`,
/// calibrator options and criterion / balancer specs.
///
/// Absent keys take the values of `init()`, so `nil`, `{}` and partial objects decode; unknown
/// keys are still errors naming their key path (with the nearest valid key).
///
/// ```swift
/// public struct Options: PluginOptions {
///   public var threshold: Float = 0.05
///   public var learnScales = true
///   public init() {}
/// }
/// let options = try attributes.decodeAlgorithmOptions(Options.self)   // in a quantizer
/// ```
public protocol PluginOptions: Codable, Sendable {
  /// The defaults.
  init()
}

/// The options of an algorithm that takes none: decoding it accepts `nil` and `{}` and
/// refuses any key, so a misplaced option is an error instead of being ignored.
public struct NoOptions: PluginOptions, Equatable {
  /// No options.
  public init() {}
}

extension JSONValue {
  /// Decodes options strictly: `nil` means `{}`; for ``PluginOptions`` types absent keys take
  /// the defaults of `init()`; unknown keys, wrong types and (for other types) missing keys
  /// throw ``ConfigError`` naming the key path.
  public static func decodeOptions<T: Codable>(_ json: JSONValue?, as type: T.Type, context: String) throws -> T {
    var given = json ?? .object([:])
    if given == .null { given = .object([:]) }
    if let options = T.self as? any PluginOptions.Type {
      guard case .object = given else {
        throw ConfigError.wrongType(context, path: "", expected: "a JSON object of options")
      }
      given = given.merged(over: try JSONValue.encoding(options.init()))
    }
    return try given.decode(T.self, context: context)
  }

  /// This value laid over `defaults`: objects merge key by key (recursively), anything else
  /// replaces the default.
  public func merged(over defaults: JSONValue) -> JSONValue {
    guard case .object(let mine) = self, case .object(var base) = defaults else { return self }
    for (k, v) in mine { base[k] = base[k].map { v.merged(over: $0) } ?? v }
    return .object(base)
  }
}

/// Strict decoding helpers for plugins' JSON specs (the ones the built-in criteria and
/// balancers use): a JSON object, a `"kind"` tag that must match, strict keys with defaults,
/// and value checks that name their key path.
public enum StrictJSON {
  /// Decodes the spec `{"kind": kind, ...}` of a criterion or balancer: `json` must be an
  /// object; its `"kind"` key, when present, must equal `kind` and is removed before the rest
  /// decodes into `T` with ``JSONValue/decodeOptions(_:as:context:)`` (defaults for
  /// ``PluginOptions``, unknown keys named).
  ///
  /// - Throws: ``ConfigError`` with context `"<kind> spec"` and the key path.
  public static func decode<T: Codable>(_ type: T.Type, from json: JSONValue, kind: String) throws -> T {
    let context = "\(kind) spec"
    guard case .object(var object) = json else {
      throw ConfigError.wrongType(context, path: "", expected: "a JSON object")
    }
    if let tag = object.removeValue(forKey: "kind") {
      guard tag == .string(kind) else {
        throw ConfigError.invalidValue(context, path: "kind", "expected \"\(kind)\", got \(tag.text)")
      }
    }
    return try JSONValue.decodeOptions(.object(object), as: T.self, context: context)
  }

  /// `value` when it is finite and `> 0`.
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` naming `context` and `path`.
  public static func positive(_ value: Float, _ context: String, path: String) throws -> Float {
    guard value.isFinite, value > 0 else {
      throw ConfigError.invalidValue(context, path: path, "must be a finite number > 0, got \(value)")
    }
    return value
  }

  /// `value` when it is finite and `≥ 0`.
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` naming `context` and `path`.
  public static func nonNegative(_ value: Float, _ context: String, path: String) throws -> Float {
    guard value.isFinite, value >= 0 else {
      throw ConfigError.invalidValue(context, path: path, "must be a finite number ≥ 0, got \(value)")
    }
    return value
  }

  /// `value` when it lies in `range`.
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` naming `context` and `path`.
  public static func inRange<T: Comparable>(_ value: T, _ range: ClosedRange<T>, _ context: String, path: String) throws -> T {
    guard range.contains(value) else {
      throw ConfigError.invalidValue(context, path: path, "must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
    }
    return value
  }
}

extension QuantizerAttributes {
  /// Decodes ``algorithmOptions`` as `T` (see ``JSONValue/decodeOptions(_:as:context:)``):
  /// errors carry the key path under `algorithmOptions`, and the `quantize` mode prefixes the
  /// quantizer's path, so a typo reads
  /// `quantize config: unknown key 'fc1.weight_quantizer.algorithmOptions.treshold' (did you mean 'threshold'?)`.
  ///
  /// - Throws: ``ConfigError``.
  public func decodeAlgorithmOptions<T: Codable>(_ type: T.Type) throws -> T {
    let context = "\(algorithm) options"
    do { return try JSONValue.decodeOptions(algorithmOptions, as: T.self, context: context) } catch let e as ConfigError {
      throw e.prefixed("algorithmOptions", context: context)
    }
  }

  /// Decodes ``calibratorOptions`` as `T`, with key paths under `calibratorOptions` (see
  /// ``decodeAlgorithmOptions(_:)``).
  ///
  /// - Throws: ``ConfigError``.
  public func decodeCalibratorOptions<T: Codable>(_ type: T.Type) throws -> T {
    let context = "\(calibrator) calibrator options"
    do { return try JSONValue.decodeOptions(calibratorOptions, as: T.self, context: context) } catch let e as ConfigError {
      throw e.prefixed("calibratorOptions", context: context)
    }
  }
}
