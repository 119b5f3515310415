/// A student layer and the teacher layer it learns from, as dotted module paths; `""` is the
/// model's final output.
public struct KDLayerPair: Hashable, Sendable {
  /// The student layer path.
  public var student: String
  /// The teacher layer path.
  public var teacher: String

  /// A pair of paths.
  public init(_ student: String, _ teacher: String) {
    self.student = student
    self.teacher = teacher
  }

  /// The same path in both models (e.g. `"fc1"`).
  public init(_ path: String) { self.init(path, path) }

  /// The final outputs of both models (logits).
  public static let outputs = KDLayerPair("", "")
  /// Another name for ``outputs``.
  public static let logits = outputs
}

/// One distillation term: a layer pair and its criterion.
public struct KDCriterionEntry {
  /// The layers compared.
  public var layers: KDLayerPair
  /// The loss between them.
  public var criterion: any Criterion

  /// Creates an entry.
  public init(_ layers: KDLayerPair, _ criterion: any Criterion) {
    self.layers = layers
    self.criterion = criterion
  }
}

/// The configuration of the `kd_loss` mode (ModelOpt's `KDLossConfig`).
///
/// ```swift
/// let config = KDConfig(
///   teacher: teacher,
///   criteria: [.logits: try LogitsKLCriterion(temperature: 2),
///              KDLayerPair("fc1"): MSECriterion()],
///   balancer: try StaticBalancer(kdWeights: [0.5, 0.2]))
/// ```
///
/// The teacher is a live model, so the config is not decodable from JSON alone (and
/// `.named("kd_loss", json)` throws): recipes give the criteria and balancer as JSON and the
/// teacher from Swift with `KDConfig(json:teacher:registry:)` (module QATRegistry; resolves
/// plugin criteria and balancers by name) or ``init(json:teacher:makeCriterion:makeBalancer:)``
/// (built-ins only by default). ``json`` describes everything but the teacher's weights for
/// the mode history.
public struct KDConfig {
  /// The teacher model: frozen, kept in evaluation mode and run without gradients.
  public var teacher: Module?
  /// The distillation terms, in order (their losses are named `"<criterion>_<index>"`).
  public var criteria: [KDCriterionEntry]
  /// Combines the KD losses and the student loss; required with more than one criterion.
  public var balancer: (any LossBalancer)?
  /// Whether the distillation model's state dict (and so its checkpoints) leaves out the
  /// teacher (default). With `false` the teacher's tensors appear under `teacher.`.
  public var excludeTeacherFromState: Bool

  /// Creates a configuration with criteria keyed by layer pairs, in literal order.
  public init(
    teacher: Module?, criteria: KeyValuePairs<KDLayerPair, any Criterion>,
    balancer: (any LossBalancer)? = nil, excludeTeacherFromState: Bool = true
  ) {
    self.init(
      teacher: teacher, entries: criteria.map { KDCriterionEntry($0.key, $0.value) },
      balancer: balancer, excludeTeacherFromState: excludeTeacherFromState)
  }

  /// Creates a configuration with one criterion on the final outputs.
  public init(
    teacher: Module?, criterion: any Criterion, balancer: (any LossBalancer)? = nil,
    excludeTeacherFromState: Bool = true
  ) {
    self.init(
      teacher: teacher, entries: [KDCriterionEntry(.outputs, criterion)], balancer: balancer,
      excludeTeacherFromState: excludeTeacherFromState)
  }

  /// Creates a configuration from a list of entries.
  public init(
    teacher: Module?, entries: [KDCriterionEntry], balancer: (any LossBalancer)? = nil,
    excludeTeacherFromState: Bool = true
  ) {
    self.teacher = teacher
    self.criteria = entries
    self.balancer = balancer
    self.excludeTeacherFromState = excludeTeacherFromState
  }

  // MARK: Validation

  /// Checks the configuration against `student` without running anything: the teacher is
  /// present and distinct from the student (sharing no tensors), every layer path exists,
  /// a balancer is set when several criteria are, and it accepts that many losses.
  ///
  /// - Throws: ``ConfigError`` naming the key path (`criteria[1].student_layer`, ...) and,
  ///   for unknown layers, listing the paths that exist.
  public func validate(student: Module) throws {
    let context = "kd_loss config"
    guard let teacher else {
      throw ConfigError.invalidValue(
        context, path: "teacher",
        "no teacher model: kd_loss needs a live teacher; pass it as KDConfig(teacher: ...)")
    }
    if student is DistillationModel {
      throw ConfigError.invalidValue(
        context, path: "", "the model is already a DistillationModel; export it (export_student) before distilling again")
    }
    if teacher === student {
      throw ConfigError.invalidValue(context, path: "teacher", "the teacher is the student itself; pass a separate model")
    }
    let studentTensors = Set(student.stateDict().map { ObjectIdentifier($0.1) })
    if let shared = teacher.stateDict().first(where: { studentTensors.contains(ObjectIdentifier($0.1)) }) {
      throw ConfigError.invalidValue(
        context, path: "teacher",
        "the teacher shares the tensor '\(shared.0)' with the student; freezing the teacher would freeze the student too")
    }
    guard !criteria.isEmpty else {
      throw ConfigError.invalidValue(context, path: "criteria", "no criteria: give at least one (layer pair → criterion)")
    }
    let studentPaths = student.namedModules().map(\.0)
    let teacherPaths = teacher.namedModules().map(\.0)
    for (i, entry) in criteria.enumerated() {
      for (role, path, available) in [
        ("student", entry.layers.student, studentPaths), ("teacher", entry.layers.teacher, teacherPaths),
      ] where !available.contains(path) {
        throw ConfigError.invalidValue(
          context, path: "criteria[\(i)].\(role)_layer",
          "no layer '\(path)' in the \(role) (\(type(of: role == "student" ? student : teacher))); its layer paths are: "
            + available.map { $0.isEmpty ? "\"\" (output)" : $0 }.joined(separator: ", "))
      }
    }
    let reserved = ["kd_criteria", "kd_balancer"] + (excludeTeacherFromState ? [] : ["teacher"])
    if let clash = student.children().map(\.0).first(where: reserved.contains) {
      throw ConfigError.invalidValue(
        context, path: "", "the student has a child named '\(clash)', which the distillation model reserves")
    }
    if let balancer {
      do { try balancer.validate(kdLossCount: criteria.count) } catch let e as ConfigError {
        throw e.prefixed("balancer", context: context)
      }
    } else if criteria.count > 1 {
      throw ConfigError.invalidValue(
        context, path: "balancer", "\(criteria.count) criteria need a balancer to combine their losses")
    }
  }

  /// Validates, then runs one forward pass of `sampleInput` through teacher and student
  /// without gradients and checks that every captured pair of outputs fits its criterion.
  /// Leaves no hooks behind; the teacher ends frozen and in evaluation mode.
  ///
  /// - Throws: ``ConfigError`` (see ``validate(student:)``) or ``KDError/shapeMismatch(criterion:studentLayer:teacherLayer:detail:)``.
  public func check(student: Module, sampleInput: Tensor) throws {
    let model = try DistillationModel(student: student, config: self)
    defer { _ = model.exportStudent() }
    try model.check(sampleInput: sampleInput)
  }

  // MARK: JSON

  /// Everything but the teacher's weights, for the mode history:
  /// `{"criteria": [{"student_layer", "teacher_layer", "criterion": spec}], "balancer": spec | null,
  /// "exclude_teacher_from_state": Bool, "teacher_type": "MLP"}`.
  public var json: JSONValue {
    .object([
      "criteria": .array(criteria.map {
        .object([
          "student_layer": .string($0.layers.student), "teacher_layer": .string($0.layers.teacher),
          "criterion": $0.criterion.spec,
        ])
      }),
      "balancer": balancer?.spec ?? .null,
      "exclude_teacher_from_state": .bool(excludeTeacherFromState),
      "teacher_type": teacher.map { .string("\(type(of: $0))") } ?? .null,
    ])
  }

  /// Creates a configuration from JSON criteria and balancer (the form of ``json``) and a
  /// live teacher. Criteria and balancers are created by `kind` with the given factories;
  /// the defaults know only the built-ins (``KDBuiltins``): use `KDConfig(json:teacher:registry:)`
  /// from QATRegistry for plugins' kinds.
  ///
  /// - Throws: ``ConfigError`` naming the key path (`criteria[0].criterion.temprature`).
  public init(
    json: JSONValue, teacher: Module?,
    makeCriterion: (JSONValue) throws -> any Criterion = KDBuiltins.makeCriterion,
    makeBalancer: (JSONValue) throws -> any LossBalancer = KDBuiltins.makeBalancer
  ) throws {
    let context = "kd_loss config"
    let raw = try json.decode(RawConfig.self, context: context)
    var entries: [KDCriterionEntry] = []
    for (i, pair) in raw.criteria.enumerated() {
      do {
        entries.append(KDCriterionEntry(KDLayerPair(pair.studentLayer, pair.teacherLayer), try makeCriterion(pair.criterion)))
      } catch let e as ConfigError {
        throw e.prefixed("criteria[\(i)].criterion", context: context)
      }
    }
    var balancer: (any LossBalancer)?
    if let b = raw.balancer, b != .null {
      do { balancer = try makeBalancer(b) } catch let e as ConfigError {
        throw e.prefixed("balancer", context: context)
      }
    }
    self.init(teacher: teacher, entries: entries, balancer: balancer, excludeTeacherFromState: raw.excludeTeacherFromState)
  }

  struct RawPair: Codable {
    var studentLayer: String
    var teacherLayer: String
    var criterion: JSONValue

    enum CodingKeys: String, CodingKey {
      case studentLayer = "student_layer", teacherLayer = "teacher_layer", criterion
    }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      studentLayer = try c.decodeIfPresent(String.self, forKey: .studentLayer) ?? ""
      teacherLayer = try c.decodeIfPresent(String.self, forKey: .teacherLayer) ?? ""
      criterion = try c.decode(JSONValue.self, forKey: .criterion)
    }
  }

  struct RawConfig: Codable {
    var criteria: [RawPair]
    var balancer: JSONValue?
    var excludeTeacherFromState: Bool
    var teacherType: String?

    enum CodingKeys: String, CodingKey {
      case criteria, balancer
      case excludeTeacherFromState = "exclude_teacher_from_state", teacherType = "teacher_type"
    }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      criteria = try c.decode([RawPair].self, forKey: .criteria)
      balancer = try c.decodeIfPresent(JSONValue.self, forKey: .balancer)
      excludeTeacherFromState = try c.decodeIfPresent(Bool.self, forKey: .excludeTeacherFromState) ?? true
      teacherType = try c.decodeIfPresent(String.self, forKey: .teacherType)
    }

    func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(criteria, forKey: .criteria)
      try c.encode(balancer ?? .null, forKey: .balancer)
      try c.encode(excludeTeacherFromState, forKey: .excludeTeacherFromState)
      try c.encode(teacherType.map(JSONValue.string) ?? .null, forKey: .teacherType)
    }
  }
}
