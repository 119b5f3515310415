import Foundation
import QATKit
import QATRegistry

/// The conformance suite for a quantizer (QAT algorithm) plugin: everything the `quantize`
/// mode, the optimizer and checkpoints rely on, run on the plugin's own type through the
/// registry, by name.
///
/// ```swift
/// let report = QuantizerConformance(
///   plugin: MyQuantPlugin.self, algorithm: "my_quant",
///   cases: [.weight(.int(4, axis: 0)), .activation(.int(8))],
///   unsupported: [QuantizerAttributes(format: .e4m3)],
///   surrogate: STESurrogate { input, frozen in ... }
/// ).run()
/// #expect(report.passed, "\(report)")
/// ```
///
/// For each case, on a small MLP (`fc1`, `fc2`, inputs of 8 features) with the case's
/// attributes on every weight or input quantizer:
/// - the factory builds a quantizer that keeps the attributes it was given; `{}` options give
///   the defaults and an unknown option key fails naming `fc1.<slot>.algorithmOptions.<key>`;
/// - calibration through `quantize` sets the state from the data (different data, different
///   state), every state tensor is finite, and learnable tensors are state tensors and
///   parameters of the model (so optimizers and checkpoints see them);
/// - a training step gives every learnable tensor a finite gradient of its shape and changes
///   at least one of them;
/// - disabled (`isEnabled = false`, or `enable: false` in the attributes) is the identity;
/// - the forward pass is deterministic; save → restore onto a fresh model through the
///   registry is bit-identical (outputs and state); restoring without the plugin fails with
///   ``RegistryError/missingPlugin(kind:name:plugin:)`` naming it;
/// - the recorded backward matches finite differences of the straight-through surrogate
///   (input and learned tensors, see ``GradientCheck/straightThrough(_:input:surrogate:h:atol:rtol:seed:)``).
///
/// Every `unsupported` attribute set must be refused by the factory (a thrown error) and by
/// `convert`, which then leaves the model untouched.
public struct QuantizerConformance {
  /// Where the quantizer sits.
  public enum Role: String, Sendable {
    /// `*weight_quantizer`: calibrated once on the layer's weight.
    case weight
    /// `*input_quantizer`: calibrated by the forward loop.
    case activation
  }

  /// One configuration to run the suite on.
  public struct Case {
    /// The attributes (`algorithm` is set to the suite's algorithm).
    public var attributes: QuantizerAttributes
    /// Weight or activation quantizer.
    public var role: Role

    /// A case.
    public init(_ attributes: QuantizerAttributes, role: Role) {
      self.attributes = attributes
      self.role = role
    }

    /// A weight-quantizer case.
    public static func weight(_ attributes: QuantizerAttributes) -> Case { Case(attributes, role: .weight) }
    /// An activation-quantizer case.
    public static func activation(_ attributes: QuantizerAttributes) -> Case { Case(attributes, role: .activation) }
  }

  /// The plugin under test.
  public var plugin: any QATPlugin.Type
  /// The algorithm name it registers.
  public var algorithm: String
  /// Configurations it supports.
  public var cases: [Case]
  /// Attributes it must refuse.
  public var unsupported: [QuantizerAttributes]
  /// The straight-through surrogate of its forward pass.
  public var surrogate: STESurrogate
  /// The registry the plugin is added to (``Registry/builtin`` by default).
  public var baseRegistry: Registry
  /// Gradient tolerances (absolute and relative).
  public var tolerance: (atol: Float, rtol: Float)

  /// Configures the suite.
  public init(
    plugin: any QATPlugin.Type, algorithm: String, cases: [Case], unsupported: [QuantizerAttributes] = [],
    surrogate: STESurrogate, baseRegistry: Registry = .builtin, tolerance: (atol: Float, rtol: Float) = (1e-3, 1e-3)
  ) {
    self.plugin = plugin
    self.algorithm = algorithm
    self.cases = cases
    self.unsupported = unsupported
    self.surrogate = surrogate
    self.baseRegistry = baseRegistry
    self.tolerance = tolerance
  }

  /// Runs every check.
  public func run() -> ConformanceReport {
    var report = ConformanceReport(subject: "quantizer '\(algorithm)' (plugin \(plugin.name))")
    var registry = baseRegistry
    report.check("the plugin registers '\(algorithm)' as a quantizer") {
      try registry.register(plugin)
      return require(registry.entry(.quantizer, algorithm)?.plugin == plugin.name,
        "after register(\(plugin.name)), the quantizer '\(algorithm)' is \(registry.entry(.quantizer, algorithm).map { "registered by \($0.plugin)" } ?? "not registered")")
    }
    guard report.passed else { return report }
    report.check("cases are given") { require(!cases.isEmpty, "give at least one supported case") }
    for (index, c) in cases.enumerated() {
      var attributes = c.attributes
      attributes.algorithm = algorithm
      let label = "\(c.role.rawValue) \(attributes.format), \(attributes.granularity)"
      QuantizerCaseRunner(
        plugin: plugin, registry: registry, attributes: attributes, role: c.role, label: label,
        surrogate: surrogate, tolerance: tolerance, checkOptions: index == 0
      ).run(into: &report)
    }
    for attrs in unsupported {
      var a = attrs
      a.algorithm = algorithm
      report.check("refuses \(a.format), \(a.granularity)") {
        let factory = try registry.quantizationEnvironment.quantizerFactory(algorithm, path: "")
        if let q = try? factory(a) { return "the factory built \(type(of: q)) for unsupported attributes \(a)" }
        let model = MLP([8, 12, 6], seed: 1)
        let before = model.stateDict().map { $0.1.scalars }
        do {
          try convert(model, modes: [.quantize(QuantizeConfig([.init("*weight_quantizer", cfg: a)]))], registry: registry)
          return "convert accepted unsupported attributes \(a)"
        } catch {}
        return require(
          model.modeHistory.isEmpty && model.namedQuantizers().isEmpty && model.stateDict().map { $0.1.scalars } == before,
          "a refused convert changed the model")
      }
    }
    return report
  }
}

/// The checks of one case.
struct QuantizerCaseRunner {
  let plugin: any QATPlugin.Type
  let registry: Registry
  let attributes: QuantizerAttributes
  let role: QuantizerConformance.Role
  let label: String
  let surrogate: STESurrogate
  let tolerance: (atol: Float, rtol: Float)
  let checkOptions: Bool

  var slot: String { role == .weight ? "weight_quantizer" : "input_quantizer" }
  var paths: [String] { ["fc1.\(slot)", "fc2.\(slot)"] }

  func config(_ a: QuantizerAttributes) -> QuantizeConfig { QuantizeConfig([.init("*\(slot)", cfg: a)]) }

  func batches(scale: Float = 1) -> [Tensor] {
    (0..<3).map { i in GradientCheck.randn([16, 8], seed: 100 + UInt64(i)) * scale }
  }

  func quantized(_ a: QuantizerAttributes, seed: UInt64 = 1, scale: Float = 1) throws -> MLP {
    let model = MLP([8, 12, 6], seed: seed)
    if role == .weight, scale != 1 {
      for p in model.parameters() { try p.assign(values: p.scalars.map { $0 * scale }) }
    }
    let data = batches(scale: role == .activation ? scale : 1)
    try convert(model, modes: [.quantize(config(a))], registry: registry, forwardLoop: { m in for b in data { _ = m(b) } })
    return model
  }

  func quantizers(_ model: Module) -> [(String, any Quantizer)] {
    let all = Dictionary(model.namedQuantizers(), uniquingKeysWith: { a, _ in a })
    return paths.compactMap { p in all[p].map { (p, $0) } }
  }

  func run(into report: inout ConformanceReport) {
    let factory: QuantizerFactory
    do { factory = try registry.quantizationEnvironment.quantizerFactory(attributes.algorithm, path: "") } catch {
      report.fail("factory (\(label))", "\(error)")
      return
    }
    report.check("builds from its attributes and keeps them (\(label))") {
      let q = try factory(attributes)
      return require(q.attributes == attributes, "attributes changed: built \(q.attributes), given \(attributes)")
        ?? require(q.isEnabled == attributes.enable, "isEnabled \(q.isEnabled) but enable \(attributes.enable)")
    }
    if checkOptions {
      report.check("`algorithmOptions: {}` gives the defaults (\(label))") {
        var a = attributes
        if a.algorithmOptions == nil { a.algorithmOptions = .object([:]) }
        _ = try quantized(a)
        return nil
      }
      report.check("an unknown option key is an error naming its quantizer path (\(label))") {
        var a = attributes
        var options: [String: JSONValue] = [:]
        if case .object(let o)? = a.algorithmOptions { options = o }
        options["__not_an_option__"] = .number(1)
        a.algorithmOptions = .object(options)
        do {
          _ = try quantized(a)
          return "an unknown key in algorithmOptions was accepted: decode options with attributes.decodeAlgorithmOptions(_:)"
        } catch {
          let want = "\(paths[0]).algorithmOptions.__not_an_option__"
          return require("\(error)".contains(want), "the error does not name '\(want)': \(error)")
        }
      }
    }

    let model: MLP
    do { model = try quantized(attributes) } catch {
      report.fail("converts and calibrates by name through quantize (\(label))", "\(error)")
      return
    }
    let qs = quantizers(model)
    report.check("converts and calibrates by name through quantize (\(label))") {
      require(qs.count == paths.count, "expected quantizers at \(paths), found \(model.namedQuantizers().map(\.0))")
        ?? require(qs.allSatisfy { $0.1.attributes.algorithm == attributes.algorithm }, "a quantizer is not '\(attributes.algorithm)'")
    }
    guard qs.count == paths.count else { return }
    let x = GradientCheck.randn([16, 8], seed: 7)

    report.check("state tensors are finite and in the state dict (\(label))") {
      let keys = Set(model.stateDict().map(\.0))
      for (p, q) in qs {
        for (name, t) in q.stateTensors() {
          if !t.scalars.allSatisfy(\.isFinite) { return "\(p).\(name) is not finite: \(t)" }
          if !keys.contains("\(p).\(name)") { return "\(p).\(name) is missing from the state dict" }
        }
      }
      return nil
    }
    report.check("learnable tensors are state tensors and model parameters (\(label))") {
      let params = Set(model.parameters().map(ObjectIdentifier.init))
      for (p, q) in qs {
        let state = Dictionary(q.stateTensors().map { ($0.0, ObjectIdentifier($0.1)) }, uniquingKeysWith: { a, _ in a })
        for (name, t) in q.learnableParameters() {
          if state[name] != ObjectIdentifier(t) { return "\(p): learnable '\(name)' is not the state tensor of that name" }
          if !params.contains(ObjectIdentifier(t)) { return "\(p).\(name) is not among model.parameters(): the optimizer would not train it" }
        }
      }
      return nil
    }
    if qs.contains(where: { $0.1.needsCalibration }) && attributes.enable {
      report.check("calibration sets the state from the data (\(label))") {
        let other = try quantized(attributes, scale: 4)
        let a = qs.flatMap { $0.1.stateTensors().map(\.1.scalars) }
        let b = quantizers(other).flatMap { $0.1.stateTensors().map(\.1.scalars) }
        return require(!a.isEmpty && a != b, "calibrating on data 4× larger gave the same state \(a.prefix(3))")
      }
    }
    report.check("the forward pass is finite and deterministic (\(label))") {
      model.eval()
      let (y1, y2) = Tensor.withoutGrad { (model(x).scalars, model(x).scalars) }
      return require(y1.allSatisfy(\.isFinite), "non-finite outputs") ?? require(y1 == y2, "two forward passes differ")
    }
    report.check("disabled is the identity (\(label))") {
      let input = role == .weight ? model.layers[0].weight : x
      let q = qs[0].1
      q.isEnabled = false
      defer { q.isEnabled = attributes.enable }
      let y = Tensor.withoutGrad { q(input) }
      if y.scalars != input.scalars { return "isEnabled = false changed the values" }
      var off = attributes
      off.enable = false
      let m = try quantized(off)
      guard let d = quantizers(m).first?.1 else { return "enable: false removed the quantizer from its slot" }
      let yd = Tensor.withoutGrad { d(input) }
      return require(yd.scalars == input.scalars, "enable: false is not the identity")
    }
    let learnables = qs.flatMap { $0.1.learnableParameters().map(\.1) }
    if !learnables.isEmpty {
      report.check("a training step reaches every learnable tensor (\(label))") {
        let trained = try quantized(attributes)
        let tq = quantizers(trained).flatMap { $0.1.learnableParameters() }
        trained.train()
        let optimizer = Adam(trained.parameters(), learningRate: 1e-2)
        let before = tq.map(\.1.scalars)
        optimizer.zeroGrad()
        // Inputs 3× the calibration data, so ranges calibrated by max also see clipped values.
        Loss.crossEntropy(trained(x * 3), (0..<16).map { $0 % 6 }).backward()
        var anyNonZero = false
        for (name, t) in tq {
          guard let g = t.grad else { return "learnable '\(name)' got no gradient" }
          if g.shape != t.shape { return "gradient of '\(name)' has shape \(g.shape), the tensor \(t.shape)" }
          if !g.scalars.allSatisfy(\.isFinite) { return "gradient of '\(name)' is not finite" }
          anyNonZero = anyNonZero || g.scalars.contains { $0 != 0 }
        }
        optimizer.step()
        // A step changes learned tensors whenever a gradient reached them (some algorithms,
        // PACT on a max-calibrated weight, get exact zeros by design).
        return require(!anyNonZero || tq.map(\.1.scalars) != before, "one Adam step changed no learnable tensor")
      }
    }
    report.check("save → restore through the registry is bit-identical (\(label))") {
      let url = FileManager.default.temporaryDirectory.appendingPathComponent("qat-conformance-\(UUID().uuidString).safetensors")
      defer { try? FileManager.default.removeItem(at: url) }
      try save(model, to: url, registry: registry)
      let fresh = MLP([8, 12, 6], seed: 99)
      try restore(fresh, from: url, registry: registry)
      fresh.eval()
      model.eval()
      let same = Tensor.withoutGrad { fresh(x).scalars == model(x).scalars }
      let freshQs = quantizers(fresh)
      let stateSame = zip(qs, freshQs).allSatisfy { a, b in
        a.1.stateTensors().map { "\($0.0)=\($0.1.shape)\($0.1.scalars)" } == b.1.stateTensors().map { "\($0.0)=\($0.1.shape)\($0.1.scalars)" }
          && a.1.attributes == b.1.attributes
      }
      return require(same, "restored outputs differ") ?? require(stateSame, "restored quantizer state or attributes differ")
    }
    report.check("restore without the plugin fails naming it (\(label))") {
      let url = FileManager.default.temporaryDirectory.appendingPathComponent("qat-conformance-\(UUID().uuidString).safetensors")
      defer { try? FileManager.default.removeItem(at: url) }
      try save(model, to: url, registry: registry)
      do {
        try restore(MLP([8, 12, 6], seed: 99), from: url, registry: .builtin)
        return "restore succeeded without the plugin"
      } catch RegistryError.missingPlugin(_, _, let p) {
        return require(p == plugin.name, "the error names plugin '\(p)', not '\(plugin.name)'")
      }
    }
    if attributes.enable {
      report.check("backward matches finite differences of the straight-through surrogate (\(label))") {
        let q = try factory(attributes)
        let shape = role == .weight ? [6, 8] : [5, 8]
        if q.needsCalibration {
          let calibrator = try registry.quantizationEnvironment.calibratorFactory(attributes.calibrator, path: "")(attributes.calibratorOptions)
          q.beginCalibration(calibrator)
          _ = Tensor.withoutGrad { q(GradientCheck.randn(shape, seed: 11)) }
          try q.endCalibration()
        }
        let r = GradientCheck.straightThrough(
          q, input: GradientCheck.randn(shape, seed: 12), surrogate: surrogate, atol: tolerance.atol, rtol: tolerance.rtol)
        return require(r.passed, "\(r)")
      }
    }
  }
}
