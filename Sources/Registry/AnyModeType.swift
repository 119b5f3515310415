import QATKit

/// A type-erased `Mode` for lookup by name.
public struct AnyModeType: Sendable {
  /// Registry name.
  public let name: String
  /// One-line description.
  public let summary: String
  /// Names allowed immediately after; `nil` = any.
  public let allowedNext: Set<String>?
  /// The export mode that closes this mode.
  public let exportMode: String?
  /// Whether this is an export mode.
  public let isExport: Bool
  /// Whether the mode is written to checkpoints.
  public let savesState: Bool
  let decode: @Sendable (JSONValue) throws -> Any
  let encode: @Sendable (Any) throws -> JSONValue
  let validate: @Sendable (Any, Module) throws -> Void
  let convert: @Sendable (Module, Any, ModeContext) throws -> (Module, JSONValue)
  let restore: @Sendable (Module, Any, JSONValue, ModeContext) throws -> Module
  let updateForSave: @Sendable (Module, Any, inout JSONValue) throws -> Void
  let configType: Any.Type

  /// Erases `mode`.
  public init<M: Mode>(_ mode: M.Type) {
    name = M.name
    summary = M.summary
    allowedNext = M.allowedNext
    exportMode = M.exportMode
    isExport = M.isExport
    savesState = M.savesState
    configType = M.Config.self
    decode = { try M.decode($0) }
    encode = { try M.encode(AnyModeType.cast($0, M.self)) }
    validate = { try M.validate(AnyModeType.cast($0, M.self), for: $1) }
    convert = { try M.convert($0, config: AnyModeType.cast($1, M.self), context: $2) }
    restore = { try M.restore($0, config: AnyModeType.cast($1, M.self), metadata: $2, context: $3) }
    updateForSave = { try M.updateForSave($0, config: AnyModeType.cast($1, M.self), metadata: &$2) }
  }

  static func cast<M: Mode>(_ value: Any, _: M.Type) throws -> M.Config {
    guard let c = value as? M.Config else {
      throw ConfigError.wrongType("\(M.name) config", path: "", expected: "\(M.Config.self), got \(type(of: value))")
    }
    return c
  }
}
