/// A named, registered model transformation with a typed configuration and saved state,
/// in the spirit of ModelOpt's `ModeDescriptor`.
///
/// `convert` applies the mode to a model and returns metadata; `restore` replays it onto a
/// freshly built model of the same architecture from the saved config and metadata (weights
/// are loaded afterwards). The registry checks chains with ``allowedNext`` before it touches
/// a model.
public protocol Mode: SendableMetatype {
  /// The configuration type; ``encode(_:)`` and ``decode(_:)`` map it to JSON.
  associatedtype Config

  /// The registry name, e.g. `"quantize"`.
  static var name: String { get }
  /// A one-line description for listings.
  static var summary: String { get }
  /// Names of modes allowed immediately after this one; `nil` allows any.
  static var allowedNext: Set<String>? { get }
  /// The export mode that closes this one, if any.
  static var exportMode: String? { get }
  /// Whether this mode is an export mode.
  static var isExport: Bool { get }
  /// Whether the mode is written to checkpoints (`false` for modes holding live objects,
  /// such as a teacher model).
  static var savesState: Bool { get }

  /// The JSON form of a config, for the mode history.
  static func encode(_ config: Config) throws -> JSONValue
  /// A config from JSON, strictly (unknown keys are errors naming the key path).
  static func decode(_ json: JSONValue) throws -> Config
  /// Checks a config against a model without changing it.
  static func validate(_ config: Config, for model: Module) throws
  /// Applies the mode; returns the converted model (often the same object) and metadata.
  static func convert(_ model: Module, config: Config, context: ModeContext) throws -> (Module, JSONValue)
  /// Replays the mode onto a fresh model from saved config and metadata.
  static func restore(_ model: Module, config: Config, metadata: JSONValue, context: ModeContext) throws -> Module
  /// Refreshes metadata before a save (e.g. calibrated ranges).
  static func updateForSave(_ model: Module, config: Config, metadata: inout JSONValue) throws
}

extension Mode {
  /// Any mode may follow.
  public static var allowedNext: Set<String>? { nil }
  /// No export mode.
  public static var exportMode: String? { nil }
  /// Not an export mode.
  public static var isExport: Bool { false }
  /// Saved in checkpoints.
  public static var savesState: Bool { true }
  /// No extra validation.
  public static func validate(_ config: Config, for model: Module) throws {}
  /// Metadata unchanged.
  public static func updateForSave(_ model: Module, config: Config, metadata: inout JSONValue) throws {}
}

extension Mode where Config: Codable {
  /// Encodes with `JSONEncoder`.
  public static func encode(_ config: Config) throws -> JSONValue { try JSONValue.encoding(config) }
  /// Decodes strictly, naming unknown keys.
  public static func decode(_ json: JSONValue) throws -> Config { try json.decode(Config.self, context: "\(name) config") }
}

/// Non-serializable inputs to ``Mode/convert(_:config:context:)`` and
/// ``Mode/restore(_:config:metadata:context:)``, never saved: the calibration loop and
/// services the registry provides (factories for quantizers, calibrators, ...), stored by key
/// type.
public struct ModeContext {
  /// Runs the model over calibration data (PTQ), as ModelOpt's `forward_loop`.
  public var forwardLoop: ((Module) throws -> Void)?
  private var services: [ObjectIdentifier: Any] = [:]

  /// Creates a context.
  public init(forwardLoop: ((Module) throws -> Void)? = nil) { self.forwardLoop = forwardLoop }

  /// The service stored for `key`, if any.
  public subscript<K: ModeContextKey>(_ key: K.Type) -> K.Value? {
    get { services[ObjectIdentifier(key)] as? K.Value }
    set { services[ObjectIdentifier(key)] = newValue }
  }
}

/// A typed key for a service carried in a ``ModeContext``.
public protocol ModeContextKey {
  /// The service type.
  associatedtype Value
}

/// One entry of a model's mode history.
public struct ModeRecord: Codable, Equatable, Sendable {
  /// The mode's registry name.
  public var name: String
  /// Its configuration as JSON.
  public var config: JSONValue
  /// Its metadata as JSON.
  public var metadata: JSONValue

  /// Creates a record.
  public init(name: String, config: JSONValue, metadata: JSONValue) {
    self.name = name
    self.config = config
    self.metadata = metadata
  }
}
