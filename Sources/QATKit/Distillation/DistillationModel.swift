/// The model made by the `kd_loss` mode: a student trained against a frozen teacher.
///
/// Calling it runs the teacher (evaluation mode, no gradients) and then the student on the
/// same input, and returns the student's output. Output hooks capture the outputs of the
/// layers named in the criteria; ``Module/computeKDLoss(studentLoss:extras:)`` turns them
/// into the balanced total.
///
/// Structure, as the rest of the toolkit sees it:
/// - Paths, parameters and the state dict are the student's, unchanged (`fc1.weight`, ...),
///   so a checkpoint of the distillation model restores onto a plain student.
/// - The teacher is never among the parameters the optimizer gets from `parameters()`
///   unless ``KDConfig/excludeTeacherFromState`` is `false`: then its tensors appear under
///   `teacher.` (frozen: `trainableParameters()` never lists them, and they never receive
///   gradients).
/// - Trainable tensors of the criteria (adapters) appear under `kd_criteria.<index>.`, in
///   `parameters()` so the optimizer trains them, and therefore also in the state dict
///   (the engine lists every parameter in the state dict). Export or restore with
///   `strict: false` to drop them.
/// - Trainable tensors of the balancer (learned loss weights, e.g. uncertainty weighting)
///   appear likewise under `kd_balancer.`.
/// - ``exportStudent()`` removes every hook and returns the student with its quantizer slots.
public final class DistillationModel: Module {
  /// The model being trained.
  public let student: Module
  /// The frozen teacher.
  public let teacher: Module
  /// The distillation terms.
  public let criteria: [KDCriterionEntry]
  /// The loss balancer, if any.
  public let balancer: (any LossBalancer)?
  /// Whether the teacher is left out of the state dict.
  public let excludeTeacherFromState: Bool
  /// Whether ``exportStudent()`` ran (the model no longer computes KD losses).
  public private(set) var isExported = false

  private let captures = CaptureStore()
  private var hookTokens: [(module: Module, token: Int)] = []
  private let criteriaParameters: CriteriaParameters
  private let balancerParameters: CriteriaParameters

  /// Wraps `student` with the teacher and criteria of `config`: validates the config,
  /// freezes the teacher and puts it in evaluation mode, and registers output hooks on the
  /// layers of the criteria. The student's mode history is carried over.
  ///
  /// - Throws: ``ConfigError`` (see ``KDConfig/validate(student:)``).
  public init(student: Module, config: KDConfig) throws {
    try config.validate(student: student)
    let teacher = config.teacher!
    self.student = student
    self.teacher = teacher
    self.criteria = config.criteria
    self.balancer = config.balancer
    self.excludeTeacherFromState = config.excludeTeacherFromState
    self.criteriaParameters = CriteriaParameters(config.criteria.enumerated().flatMap { i, e in
      e.criterion.learnableParameters().map { ("\(i).\($0.0)", $0.1) }
    })
    self.balancerParameters = CriteriaParameters(config.balancer?.learnableParameters() ?? [])
    super.init()
    teacher.freeze()
    teacher.eval()
    // The student root's own quantizer slots (a bare quantized `Linear` student) show under
    // the same names as on the student.
    quantizerSlots = student.quantizerSlots
    modeHistory = student.modeHistory
    for (i, entry) in criteria.enumerated() {
      let s = try student.module(at: entry.layers.student)
      let t = try teacher.module(at: entry.layers.teacher)
      let store = captures
      hookTokens.append((s, s.addOutputHook { store.student[i] = $0 }))
      hookTokens.append((t, t.addOutputHook { store.teacher[i] = $0 }))
    }
    if !student.training { train(false) }
  }

  /// Not copyable: the wrapper holds a live teacher and hooks. Copy the student instead
  /// (`try dm.student.copy()`).
  public override func emptyCopy() throws -> Module {
    throw ModuleError.notCopyable("a DistillationModel holds a live teacher; copy its student (dm.student.copy()) instead")
  }

  // MARK: Module structure

  /// The student's parameters of its root.
  public override func ownParameters() -> [(String, Tensor)] { student.ownParameters() }

  /// The student's children, then `teacher` (when in the state), `kd_criteria` (when a
  /// criterion has trainable tensors) and `kd_balancer` (when the balancer has).
  public override func children() -> [(String, Module)] {
    var c = student.children()
    if !excludeTeacherFromState { c.append(("teacher", teacher)) }
    if !criteriaParameters.tensors.isEmpty { c.append(("kd_criteria", criteriaParameters)) }
    if !balancerParameters.tensors.isEmpty { c.append(("kd_balancer", balancerParameters)) }
    return c
  }

  /// Replaces a child of the student.
  public override func replaceChild(named name: String, with module: Module) throws {
    try student.replaceChild(named: name, with: module)
  }

  /// Keeps the student's root in step and the teacher in evaluation mode.
  public override func didSetTraining(_ on: Bool) {
    if student.training != on { student.train(on) }
    if teacher.training { teacher.eval() }
  }

  // MARK: Forward

  /// Runs the teacher without gradients, then the student; returns the student's output.
  public override func forward(_ x: Tensor) -> Tensor {
    captures.reset()
    if teacher.training { teacher.eval() }
    _ = Tensor.withoutGrad { teacher(x) }
    let y = student(x)
    captures.ranForward = true
    return y
  }

  // MARK: Losses

  /// The KD losses of the last forward pass, named `"<criterion>_<index>"`, in the order of
  /// the criteria.
  ///
  /// - Throws: ``KDError`` when no forward pass ran, a layer did not run, shapes or the mask
  ///   do not fit a criterion, or the model was exported.
  func kdLosses(extras: CriterionExtras) throws -> [(String, Tensor)] {
    if isExported { throw KDError.exported }
    guard captures.ranForward else { throw KDError.noForwardPass }
    var out: [(String, Tensor)] = []
    for (i, entry) in criteria.enumerated() {
      let label = "\(entry.criterion.name)_\(i)"
      guard let s = captures.student[i] else { throw KDError.notCaptured(role: "student", layer: entry.layers.student) }
      guard let t = captures.teacher[i] else { throw KDError.notCaptured(role: "teacher", layer: entry.layers.teacher) }
      if let problem = entry.criterion.shapeProblem(student: s.shape, teacher: t.shape) {
        throw KDError.shapeMismatch(
          criterion: label, studentLayer: entry.layers.student, teacherLayer: entry.layers.teacher, detail: problem)
      }
      if let mask = extras.mask {
        let rows = RowReduction.rows(t.shape)
        guard mask.count == rows else { throw KDError.maskMismatch(criterion: label, rows: rows, maskCount: mask.count) }
      }
      let loss = entry.criterion.loss(student: s, teacher: t, extras: extras)
      guard loss.count == 1 else { throw KDError.nonScalarLoss(criterion: label, shape: loss.shape) }
      out.append((label, loss))
    }
    return out
  }

  /// The balanced total and the individual KD losses (plus `"student_loss"` when given).
  func kdLossDetails(studentLoss: Tensor?, extras: CriterionExtras) throws -> (total: Tensor, losses: [(String, Tensor)]) {
    let losses = try kdLosses(extras: extras)
    let total: Tensor
    if let balancer {
      total = try balancer.balance(losses, studentLoss: studentLoss)
    } else if losses.count == 1, studentLoss == nil {
      total = losses[0].1
    } else {
      throw KDError.balancerRequired(
        studentLoss != nil ? "a student loss was given but there is no balancer to weigh it"
          : "\(losses.count) KD losses and no balancer")
    }
    return (total, losses + (studentLoss.map { [("student_loss", $0)] } ?? []))
  }

  /// Runs one forward pass of `sampleInput` without gradients and computes every KD loss,
  /// so that missing layers and shape mismatches surface before training.
  ///
  /// - Throws: ``KDError``.
  public func check(sampleInput: Tensor) throws {
    defer { captures.reset() }
    try Tensor.withoutGrad {
      _ = self(sampleInput)
      _ = try kdLosses(extras: CriterionExtras())
    }
  }

  // MARK: Export

  /// Removes every hook this model registered (on student and teacher layers) and returns
  /// the student, with its parameters, quantizer slots and mode history as they are. The
  /// teacher stays frozen. Calling it again returns the student again.
  @discardableResult
  public func exportStudent() -> Module {
    for (m, token) in hookTokens { m.removeOutputHook(token) }
    hookTokens = []
    captures.reset()
    isExported = true
    return student
  }
}

/// The outputs captured by the hooks during one forward pass, by criterion index.
private final class CaptureStore {
  var student: [Int: Tensor] = [:]
  var teacher: [Int: Tensor] = [:]
  var ranForward = false

  func reset() {
    student = [:]
    teacher = [:]
    ranForward = false
  }
}

/// Holds the criteria's (or the balancer's) trainable tensors as parameters so
/// `parameters()` lists them.
final class CriteriaParameters: Module {
  let tensors: [(String, Tensor)]

  init(_ tensors: [(String, Tensor)]) {
    self.tensors = tensors
    super.init()
  }

  override func ownParameters() -> [(String, Tensor)] { tensors }
  override func children() -> [(String, Module)] { [] }
  override func forward(_ x: Tensor) -> Tensor { x }
}
