import QATKit

/// Names → factories for every extension kind: modes, quantizers (QAT algorithms),
/// calibrators, distillation criteria, loss balancers, quantizable-layer mappings and
/// calibration algorithms.
///
/// A `Registry` is a `Sendable` value: build one, register plugins into it, and pass it to
/// ``convert(_:modes:registry:forwardLoop:)``, ``save(_:to:registry:)`` and
/// ``restore(_:from:registry:)``. Concurrent lookups from many threads are safe because a
/// value is never mutated while shared; ``SharedRegistry`` offers a process-wide mutable one.
///
/// ```swift
/// var registry = Registry.builtin
/// try registry.register(LSQPlugin.self)
/// ```
public struct Registry: Sendable {
  /// The extension kinds.
  public enum Kind: String, Sendable, CaseIterable, Codable {
    /// A mode (`quantize`, `kd_loss`, ...).
    case mode
    /// A quantizer / QAT algorithm (`static`, `lsq`, `pact`).
    case quantizer
    /// A range calibrator (`max`, `percentile`, `mse`, `entropy`).
    case calibrator
    /// A distillation criterion.
    case criterion
    /// A distillation loss balancer.
    case balancer
    /// A quantizable-layer mapping (layer type → quantizer slots).
    case layer
    /// A calibration algorithm (`awq_lite`, `smoothquant`, `gptq`), a quantize config's `algorithm`.
    case algorithm
  }

  /// A registered name with its description and provenance.
  public struct Entry: Sendable, Equatable {
    /// The kind.
    public let kind: Kind
    /// The name.
    public let name: String
    /// One line about it.
    public let summary: String
    /// The plugin that registered it (`"QATKit"` for built-ins).
    public let plugin: String
  }

  private var entries: [Kind: [String: Entry]] = [:]
  private var values: [Kind: [String: any Sendable]] = [:]
  /// The plugin currently registering (set by ``register(_:)``).
  private var currentPlugin = "QATKit"
  /// Plugins registered so far.
  public private(set) var plugins: [String] = []

  /// An empty registry.
  public init() {}

  /// Every registered entry of `kind`, sorted by name.
  public func entries(_ kind: Kind) -> [Entry] {
    (entries[kind] ?? [:]).values.sorted { $0.name < $1.name }
  }

  /// Every registered entry of every kind.
  public var allEntries: [Entry] { Kind.allCases.flatMap { entries($0) } }

  /// Registers a value of `kind` under `name`.
  ///
  /// - Throws: ``RegistryError/duplicateName(kind:name:existingPlugin:)`` when taken.
  public mutating func register(_ kind: Kind, name: String, summary: String, value: any Sendable) throws {
    if let existing = entries[kind]?[name] {
      throw RegistryError.duplicateName(kind: kind.rawValue, name: name, existingPlugin: existing.plugin)
    }
    entries[kind, default: [:]][name] = Entry(kind: kind, name: name, summary: summary, plugin: currentPlugin)
    values[kind, default: [:]][name] = value
  }

  /// The value registered under `name`.
  ///
  /// - Throws: ``RegistryError/unknownName(kind:name:known:suggestion:)`` with the known names
  ///   and the nearest one.
  public func lookup<T>(_ kind: Kind, _ name: String, as type: T.Type = T.self) throws -> T {
    guard let v = values[kind]?[name] else {
      let known = entries(kind).map(\.name)
      let suggestion = known.min { editDistance($0, name) < editDistance($1, name) }
        .flatMap { editDistance($0, name) <= max(2, name.count / 2) ? $0 : nil }
      throw RegistryError.unknownName(kind: kind.rawValue, name: name, known: known, suggestion: suggestion)
    }
    guard let typed = v as? T else {
      throw RegistryError.unknownName(kind: kind.rawValue, name: name, known: [], suggestion: nil)
    }
    return typed
  }

  /// Every value of `kind` that has type `T`, by name.
  func table<T>(_ kind: Kind, as: T.Type) -> [String: T] {
    (values[kind] ?? [:]).compactMapValues { $0 as? T }
  }

  /// The entry for `name`, if registered.
  public func entry(_ kind: Kind, _ name: String) -> Entry? { entries[kind]?[name] }

  /// Registers a plugin: everything it registers is attributed to it.
  ///
  /// - Throws: a duplicate-name error, leaving the registry unchanged.
  public mutating func register(_ plugin: any QATPlugin.Type) throws {
    var copy = self
    copy.currentPlugin = plugin.name
    try plugin.register(in: &copy)
    copy.currentPlugin = "QATKit"
    copy.plugins.append(plugin.name)
    self = copy
  }

  // MARK: Modes

  /// Registers a mode type under its `Mode.name`.
  public mutating func register<M: Mode>(mode: M.Type) throws {
    try register(.mode, name: M.name, summary: M.summary, value: AnyModeType(M.self))
  }

  /// The mode registered as `name`.
  public func mode(_ name: String) throws -> AnyModeType { try lookup(.mode, name) }
}
