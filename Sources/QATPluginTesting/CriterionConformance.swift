import QATKit
import QATRegistry

/// The conformance suite for a distillation-criterion plugin: creation from JSON by name,
/// its gradients, masks, trainable tensors and its use in the `kd_loss` mode.
///
/// ```swift
/// let report = CriterionConformance(plugin: MyKDPlugin.self, kind: "my_kd",
///                                   specs: [.object(["kind": .string("my_kd")])]).run()
/// #expect(report.passed, "\(report)")
/// ```
///
/// For every spec: the registry builds it by `kind`; its ``Criterion/spec`` rebuilds an
/// equal spec (JSON round trip); an unknown key is an error naming it; its factory refuses a
/// spec of another kind; the loss of random outputs (`studentShape` / `teacherShape`) is one
/// finite number whose gradients (to the student output and to every learnable tensor) match
/// finite differences; with masks, all-ones equals no mask and a row with weight 0 neither
/// changes the loss nor gets a gradient. Then, by name through
/// `KDConfig(json:teacher:registry:)` and `kd_loss` on two small MLPs (outputs `[16, 6]`,
/// `integrationSpec` or the first spec): its learnable tensors are model parameters, a step
/// gives every student parameter and learnable tensor a gradient, the teacher none.
public struct CriterionConformance {
  /// The plugin under test.
  public var plugin: any QATPlugin.Type
  /// The criterion kind it registers.
  public var kind: String
  /// Specs that must build (`{"kind": kind, ...}`).
  public var specs: [JSONValue]
  /// Specs of this kind that must be refused (bad values).
  public var invalidSpecs: [JSONValue]
  /// Shape of the student output in the unit checks (rows are all axes but the last).
  public var studentShape: [Int]
  /// Shape of the teacher output (default: the student's).
  public var teacherShape: [Int]?
  /// Whether the criterion honours ``CriterionExtras/mask``.
  public var supportsMask: Bool
  /// The spec used on the MLPs' 6-wide outputs (default: the first spec).
  public var integrationSpec: JSONValue?
  /// Gradient tolerances.
  public var tolerance: (atol: Float, rtol: Float)
  /// The registry the plugin is added to.
  public var baseRegistry: Registry

  /// Configures the suite.
  public init(
    plugin: any QATPlugin.Type, kind: String, specs: [JSONValue], invalidSpecs: [JSONValue] = [],
    studentShape: [Int] = [6, 5], teacherShape: [Int]? = nil, supportsMask: Bool = true,
    integrationSpec: JSONValue? = nil, tolerance: (atol: Float, rtol: Float) = (1e-3, 1e-2),
    baseRegistry: Registry = .builtin
  ) {
    self.plugin = plugin
    self.kind = kind
    self.specs = specs
    self.invalidSpecs = invalidSpecs
    self.studentShape = studentShape
    self.teacherShape = teacherShape
    self.supportsMask = supportsMask
    self.integrationSpec = integrationSpec
    self.tolerance = tolerance
    self.baseRegistry = baseRegistry
  }

  /// Runs every check.
  public func run() -> ConformanceReport {
    var report = ConformanceReport(subject: "criterion '\(kind)' (plugin \(plugin.name))")
    var registry = baseRegistry
    report.check("the plugin registers '\(kind)' as a criterion") {
      try registry.register(plugin)
      return require(registry.entry(.criterion, kind)?.plugin == plugin.name, "'\(kind)' is not registered by \(plugin.name)")
        ?? require(!specs.isEmpty, "give at least one spec")
    }
    guard report.passed, let factory = try? registry.lookup(.criterion, kind, as: CriterionFactory.self) else { return report }
    let specChecks = KindSpecChecks(build: { _ = try registry.makeCriterion($0) }, factory: { _ = try factory($0) }, noun: "criterion")
    let rows = rowCount(studentShape)
    for spec in specs {
      let tag = spec.text
      report.check("builds by kind, and its spec round-trips (\(tag))") {
        let c = try registry.makeCriterion(spec)
        let again = try registry.makeCriterion(c.spec)
        if again.spec != c.spec { return "rebuilt from \(c.spec.text) it describes itself as \(again.spec.text)" }
        // The spec must describe the criterion fully: the rebuilt one computes the same loss.
        let s = GradientCheck.randn(studentShape, seed: 31), t = GradientCheck.randn(teacherShape ?? studentShape, seed: 32)
        let (a, b) = Tensor.withoutGrad {
          (c.loss(student: s, teacher: t, extras: CriterionExtras()).scalars, again.loss(student: s, teacher: t, extras: CriterionExtras()).scalars)
        }
        return require(a == b, "rebuilt from its spec \(c.spec.text) it computes \(b) instead of \(a): the spec leaves something out")
      }
      specChecks.checkKeys(of: spec, tag: tag, into: &report)
      guard let c = try? registry.makeCriterion(spec) else { continue }
      let student = GradientCheck.randn(studentShape, seed: 21)
      let teacher = GradientCheck.randn(teacherShape ?? studentShape, seed: 22)
      report.check("the loss is one finite number (\(tag))") {
        if let p = c.shapeProblem(student: studentShape, teacher: teacherShape ?? studentShape) { return "refuses the test shapes: \(p)" }
        let l = Tensor.withoutGrad { c.loss(student: student, teacher: teacher, extras: CriterionExtras()) }
        return require(l.count == 1 && l.scalars[0].isFinite, "loss \(l)")
      }
      report.check("gradients to the student output and learnable tensors match finite differences (\(tag))") {
        let inputs = [student] + c.learnableParameters().map(\.1)
        let r = GradientCheck.check(inputs, atol: tolerance.atol, rtol: tolerance.rtol) {
          c.loss(student: student, teacher: teacher, extras: CriterionExtras())
        }
        return require(r.passed, "\(r)")
      }
      if supportsMask, rows > 1 {
        report.check("masks: all ones equals none; a row with weight 0 does not count (\(tag))") {
          let plain = Tensor.withoutGrad { c.loss(student: student, teacher: teacher, extras: CriterionExtras()) }.item
          let ones = Tensor.withoutGrad { c.loss(student: student, teacher: teacher, extras: CriterionExtras(mask: .init(repeating: 1, count: rows))) }.item
          if !isClose(plain, ones, atol: 1e-5, rtol: 1e-4) { return "all-ones mask gives \(ones), no mask \(plain)" }
          var mask = [Float](repeating: 1, count: rows)
          mask[0] = 0
          let extras = CriterionExtras(mask: mask)
          let a = Tensor.withoutGrad { c.loss(student: student, teacher: teacher, extras: extras) }.item
          let width = studentShape.last ?? 1
          let moved = try Tensor(student.scalars.enumerated().map { $0.offset < width ? $0.element + 3 : $0.element }, shape: studentShape)
          let b = Tensor.withoutGrad { c.loss(student: moved, teacher: teacher, extras: extras) }.item
          if !isClose(a, b, atol: 1e-5, rtol: 1e-4) { return "changing a masked-out row changed the loss from \(a) to \(b)" }
          let s = student.detach()
          s.requiresGrad = true
          c.loss(student: s, teacher: teacher, extras: extras).backward()
          let g = s.grad?.scalars ?? []
          return require(g.count == student.count && g.prefix(width).allSatisfy { $0 == 0 }, "a masked-out row got a gradient")
        }
      }
    }
    specChecks.checkRefuses(invalidSpecs, into: &report)
    report.check("works by name in kd_loss: parameters, gradients, teacher untouched") {
      let spec = integrationSpec ?? specs[0]
      let json = JSONValue.object(["criteria": .array([.object(["criterion": spec])])])
      let teacher = MLP([8, 12, 6], seed: 5)
      let studentModel = MLP([8, 12, 6], seed: 6)
      let kd = try KDConfig(json: json, teacher: teacher, registry: registry)
      let model = try convert(studentModel, modes: [.kdLoss(kd)], registry: registry)
      let learnable = kd.criteria[0].criterion.learnableParameters().map(\.1)
      let params = Set(model.parameters().map(ObjectIdentifier.init))
      if let missing = learnable.first(where: { !params.contains(ObjectIdentifier($0)) }) {
        return "learnable tensor \(missing.shape) is not among model.parameters()"
      }
      let x = GradientCheck.randn([16, 8], seed: 9)
      model.train()
      _ = model(x)
      try model.computeKDLoss().backward()
      if let p = studentModel.parameters().first(where: { $0.grad == nil }) { return "student parameter \(p.shape) got no gradient" }
      if learnable.contains(where: { $0.grad == nil }) { return "a learnable tensor got no gradient" }
      return require(teacher.parameters().allSatisfy { $0.grad == nil }, "the teacher got gradients")
    }
    return report
  }
}

/// The number of rows (all axes but the last) of `shape`.
func rowCount(_ shape: [Int]) -> Int { shape.dropLast().reduce(1, *) }
