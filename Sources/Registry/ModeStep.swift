import QATKit

/// One step of a mode list: a typed Swift config (checked by the compiler) or a name with a
/// JSON config (recipes, the command line, checkpoints).
///
/// ```swift
/// try convert(model, modes: [.quantize(.int8), .kdLoss(kd)], registry: registry)
/// try convert(model, modes: [.named("quantize", json)], registry: registry)
/// ```
public struct ModeStep {
  enum Payload {
    case typed(AnyModeType, Any)
    case named(String, JSONValue)
  }
  let payload: Payload

  /// A typed step for any mode type.
  public static func mode<M: Mode>(_ mode: M.Type, _ config: M.Config) -> ModeStep {
    ModeStep(payload: .typed(AnyModeType(M.self), config))
  }

  /// A step by registered name with a JSON config.
  public static func named(_ name: String, _ config: JSONValue = .object([:])) -> ModeStep {
    ModeStep(payload: .named(name, config))
  }

  /// The mode name.
  public var name: String {
    switch payload {
    case .typed(let m, _): m.name
    case .named(let n, _): n
    }
  }
}

extension ModeStep {
  /// The `quantize` mode with a typed config.
  public static func quantize(_ config: QuantizeConfig) -> ModeStep { .mode(QuantizeMode.self, config) }
  /// The `quantize` mode with a preset (`.int8`, `.nvfp4`, ...).
  public static func quantize(_ preset: QuantizePreset) -> ModeStep { .quantize(QuantizeConfig(preset: preset)) }
  /// The `kd_loss` mode with a teacher and criteria.
  public static func kdLoss(_ config: KDConfig) -> ModeStep { .mode(KDLossMode.self, config) }
  /// The `export_student` mode that closes `kd_loss`.
  public static var exportStudent: ModeStep { .named(ExportStudentMode.name) }
}
