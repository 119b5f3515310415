/// The `kd_loss` mode: wraps the (usually quantized) student with a frozen teacher and
/// distillation criteria, producing a ``DistillationModel`` (ModelOpt's `kd_loss`).
///
/// Apply quantization and QAT modes first, then `kd_loss`; the only mode allowed after it is
/// `export_student`. The mode holds a live teacher, so it is not saved in checkpoints
/// (``savesState`` is `false`): a distilled student's checkpoint restores as the plain
/// (quantized) student, and the user converts `kd_loss` again from Swift to continue.
public enum KDLossMode: Mode {
  /// ``KDConfig``.
  public typealias Config = KDConfig

  /// `"kd_loss"`.
  public static let name = "kd_loss"
  /// One line for listings.
  public static let summary = "Knowledge distillation from a frozen teacher: per-layer criteria combined by a loss balancer"
  /// Only `export_student` may follow (apply quantization before distillation).
  public static var allowedNext: Set<String>? { [ExportStudentMode.name] }
  /// `export_student`.
  public static var exportMode: String? { ExportStudentMode.name }
  /// Not saved: the teacher is a live object.
  public static var savesState: Bool { false }

  /// The config without the teacher's weights (see ``KDConfig/json``).
  public static func encode(_ config: KDConfig) throws -> JSONValue { config.json }

  /// Always throws: a `kd_loss` config needs a live teacher, so `.named("kd_loss", json)`
  /// fails. Build the config with `KDConfig(json:teacher:registry:)` (module QATRegistry),
  /// which resolves criteria and balancers by name, and pass it as `.kdLoss(config)`.
  ///
  /// - Throws: ``ConfigError`` explaining how to convert `kd_loss` from Swift.
  public static func decode(_ json: JSONValue) throws -> KDConfig {
    throw teacherRequired
  }

  /// See ``KDConfig/validate(student:)``.
  public static func validate(_ config: KDConfig, for model: Module) throws {
    try config.validate(student: model)
  }

  /// Wraps `model` in a ``DistillationModel`` (whose mode history starts as the student's).
  /// The metadata lists the loss names.
  public static func convert(_ model: Module, config: KDConfig, context: ModeContext) throws -> (Module, JSONValue) {
    let dm = try DistillationModel(student: model, config: config)
    let names = config.criteria.enumerated().map { JSONValue.string("\($0.element.criterion.name)_\($0.offset)") }
    return (dm, .object(["loss_names": .array(names)]))
  }

  /// Always throws: `kd_loss` is never saved, so there is nothing to restore.
  public static func restore(_ model: Module, config: KDConfig, metadata: JSONValue, context: ModeContext) throws -> Module {
    throw teacherRequired
  }

  static var teacherRequired: ConfigError {
    .invalidValue(
      "kd_loss config", path: "teacher",
      "kd_loss needs a live teacher model and cannot be created from JSON or a checkpoint; "
        + "restore the (quantized) student, then convert it in Swift with "
        + "KDConfig(teacher: teacher, criteria: ...) or, by name, KDConfig(json: criteriaJSON, teacher: teacher, registry: registry) "
        + "and convert(model, modes: [.kdLoss(config)], registry: registry)")
  }
}

/// The `export_student` mode: closes `kd_loss` by returning the student without the
/// teacher, the criteria and the capture hooks (its quantizer slots intact).
public enum ExportStudentMode: Mode {
  /// No options.
  public struct Config: Codable, Equatable, Sendable {
    /// The empty config.
    public init() {}
  }

  /// `"export_student"`.
  public static let name = "export_student"
  /// One line for listings.
  public static let summary = "Removes the teacher and distillation hooks, leaving the (quantized) student"
  /// An export mode.
  public static var isExport: Bool { true }
  /// Not saved (it undoes `kd_loss`, which is not saved either).
  public static var savesState: Bool { false }

  /// Requires a ``DistillationModel``.
  public static func validate(_ config: Config, for model: Module) throws {
    guard model is DistillationModel else { throw KDError.notDistillationModel("\(type(of: model))") }
  }

  /// The exported student; it takes over the distillation model's mode history.
  public static func convert(_ model: Module, config: Config, context: ModeContext) throws -> (Module, JSONValue) {
    guard let dm = model as? DistillationModel else { throw KDError.notDistillationModel("\(type(of: model))") }
    let history = dm.modeHistory
    let student = dm.exportStudent()
    student.modeHistory = history
    return (student, .object([:]))
  }

  /// Nothing to replay: returns `model`.
  public static func restore(_ model: Module, config: Config, metadata: JSONValue, context: ModeContext) throws -> Module {
    model
  }
}
