import QATKit
import QATRegistry

/// The conformance suite for a loss-balancer plugin: creation from JSON by name, its
/// gradients, and its learned weights reaching the optimizer through `kd_loss`.
///
/// ```swift
/// let report = BalancerConformance(plugin: MyBalancerPlugin.self, kind: "my_balancer",
///                                  specs: [.object(["kind": .string("my_balancer")])], kdLossCount: 2).run()
/// #expect(report.passed, "\(report)")
/// ```
///
/// For every spec: the registry builds it by `kind`; its spec round-trips; an unknown key is
/// an error naming it; its factory refuses a spec of another kind; it accepts `kdLossCount`
/// losses (``LossBalancer/validate(kdLossCount:)``); the total of random positive losses (with
/// and, when `usesStudentLoss`, without a student loss) is one finite number whose gradients to
/// every loss and learnable tensor match finite differences. Then, by name through
/// `KDConfig(json:teacher:registry:)` and `kd_loss` with `kdLossCount` criteria on two small
/// MLPs: its learnable tensors are model parameters and one Adam step changes them.
public struct BalancerConformance {
  /// The plugin under test.
  public var plugin: any QATPlugin.Type
  /// The balancer kind it registers.
  public var kind: String
  /// Specs that must build for `kdLossCount` losses.
  public var specs: [JSONValue]
  /// Specs of this kind that must be refused.
  public var invalidSpecs: [JSONValue]
  /// How many KD losses the specs combine (1...3 for the integration check).
  public var kdLossCount: Int
  /// Whether the balancer takes the student's loss (checked with and without it otherwise).
  public var usesStudentLoss: Bool
  /// Gradient tolerances.
  public var tolerance: (atol: Float, rtol: Float)
  /// The registry the plugin is added to.
  public var baseRegistry: Registry

  /// Configures the suite.
  public init(
    plugin: any QATPlugin.Type, kind: String, specs: [JSONValue], invalidSpecs: [JSONValue] = [], kdLossCount: Int = 2,
    usesStudentLoss: Bool = true, tolerance: (atol: Float, rtol: Float) = (1e-3, 1e-2), baseRegistry: Registry = .builtin
  ) {
    self.plugin = plugin
    self.kind = kind
    self.specs = specs
    self.invalidSpecs = invalidSpecs
    self.kdLossCount = kdLossCount
    self.usesStudentLoss = usesStudentLoss
    self.tolerance = tolerance
    self.baseRegistry = baseRegistry
  }

  /// Runs every check.
  public func run() -> ConformanceReport {
    var report = ConformanceReport(subject: "balancer '\(kind)' (plugin \(plugin.name))")
    var registry = baseRegistry
    report.check("the plugin registers '\(kind)' as a balancer") {
      try registry.register(plugin)
      return require(registry.entry(.balancer, kind)?.plugin == plugin.name, "'\(kind)' is not registered by \(plugin.name)")
        ?? require(!specs.isEmpty && (1...3).contains(kdLossCount), "give at least one spec and kdLossCount in 1...3")
    }
    guard report.passed, let factory = try? registry.lookup(.balancer, kind, as: BalancerFactory.self) else { return report }
    let specChecks = KindSpecChecks(build: { _ = try registry.makeBalancer($0) }, factory: { _ = try factory($0) }, noun: "balancer")
    for spec in specs {
      let tag = spec.text
      report.check("builds by kind, and its spec round-trips (\(tag))") {
        let b = try registry.makeBalancer(spec)
        let again = try registry.makeBalancer(b.spec)
        if again.spec != b.spec { return "rebuilt from \(b.spec.text) it describes itself as \(again.spec.text)" }
        // The spec must describe the balancer fully: the rebuilt one computes the same total.
        let losses = (0..<kdLossCount).map { ("kd_\($0)", Tensor(scalar: 0.25 + 0.5 * Float($0))) }
        let (x, y) = try Tensor.withoutGrad {
          (try b.balance(losses, studentLoss: usesStudentLoss ? Tensor(scalar: 0.7) : nil).scalars,
           try again.balance(losses, studentLoss: usesStudentLoss ? Tensor(scalar: 0.7) : nil).scalars)
        }
        return require(x == y, "rebuilt from its spec \(b.spec.text) it computes \(y) instead of \(x): the spec leaves something out")
      }
      specChecks.checkKeys(of: spec, tag: tag, into: &report)
      guard let b = try? registry.makeBalancer(spec) else { continue }
      report.check("accepts \(kdLossCount) KD losses (\(tag))") {
        try b.validate(kdLossCount: kdLossCount)
        return nil
      }
      for withStudent in usesStudentLoss ? [true, false] : [false] {
        let what = withStudent ? "with" : "without"
        report.check("the total \(what) a student loss is finite and its gradients match finite differences (\(tag))") {
          let losses = (0..<kdLossCount).map { Tensor(scalar: 0.3 + 0.4 * Float($0)) }
          let student = Tensor(scalar: 1.1)
          let total = try Tensor.withoutGrad {
            try b.balance(losses.enumerated().map { ("kd_\($0.offset)", $0.element) }, studentLoss: withStudent ? student : nil)
          }
          if total.count != 1 || !total.scalars[0].isFinite { return "total \(total)" }
          let inputs = losses + (withStudent ? [student] : []) + b.learnableParameters().map(\.1)
          var failure: (any Error)?
          let r = GradientCheck.check(inputs, atol: tolerance.atol, rtol: tolerance.rtol) {
            do {
              return try b.balance(losses.enumerated().map { ("kd_\($0.offset)", $0.element) }, studentLoss: withStudent ? student : nil)
            } catch {
              failure = error
              return Tensor(scalar: 0)
            }
          }
          if let failure { throw failure }
          return require(r.passed, "\(r)")
        }
      }
    }
    specChecks.checkRefuses(invalidSpecs, into: &report)
    report.check("works by name in kd_loss; learnable tensors reach the optimizer") {
      let layers = ["", "fc1", "fc2"].prefix(kdLossCount)
      let criteria = layers.map { l -> JSONValue in
        .object(["student_layer": .string(l), "teacher_layer": .string(l), "criterion": .object(["kind": .string(l.isEmpty ? "logits_kl" : "mse")])])
      }
      let json = JSONValue.object(["criteria": .array(Array(criteria)), "balancer": specs[0]])
      let teacher = MLP([8, 12, 12, 6], seed: 5)
      let student = MLP([8, 12, 12, 6], seed: 6)
      let kd = try KDConfig(json: json, teacher: teacher, registry: registry)
      let model = try convert(student, modes: [.kdLoss(kd)], registry: registry)
      let learnable = kd.balancer?.learnableParameters().map(\.1) ?? []
      let params = Set(model.parameters().map(ObjectIdentifier.init))
      if learnable.contains(where: { !params.contains(ObjectIdentifier($0)) }) {
        return "a learnable tensor of the balancer is not among model.parameters()"
      }
      let optimizer = Adam(model.parameters(), learningRate: 1e-2)
      let before = learnable.map(\.scalars)
      let x = GradientCheck.randn([16, 8], seed: 9)
      model.train()
      optimizer.zeroGrad()
      let y = model(x)
      let studentLoss = usesStudentLoss ? Loss.crossEntropy(y, (0..<16).map { $0 % 6 }) : nil
      try model.computeKDLoss(studentLoss: studentLoss).backward()
      optimizer.step()
      return require(learnable.isEmpty || learnable.map(\.scalars) != before, "one Adam step did not change the balancer's learnable tensors")
    }
    return report
  }
}
