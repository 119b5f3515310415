import Foundation
import QATKit
import QATRegistry

/// The conformance suite for a calibration-algorithm plugin (a quantize config's `algorithm`,
/// like AWQ, SmoothQuant or GPTQ): everything the `quantize` mode and checkpoints rely on, run
/// through the registry by name.
///
/// ```swift
/// let report = CalibrationAlgorithmConformance(
///   plugin: MyAlgorithmPlugin.self, algorithm: "my_algorithm",
///   configs: [.weightsAndActivations(weights: .int(4, blockSize: 8), activations: nil)]
/// ).run()
/// #expect(report.passed, "\(report)")
/// ```
///
/// For each config, on a small MLP (8-16-16-4) calibrated over two batches:
/// - `convert` with `config.with(algorithm: spec)` succeeds, records the spec in the mode's
///   config, and leaves every enabled quantizer that needs a range with state; outputs are finite;
/// - the result is deterministic (a second conversion of the same model gives the same bits);
/// - save → restore onto a fresh model through `baseRegistry`, **without the plugin** and
///   without a forward loop, gives the same state and outputs bit for bit (the algorithm's
///   results are parameters and recorded quantizer state, never something to rerun);
/// - an unknown option fails naming `algorithm.<key>`, a conversion without a forward loop
///   fails, and either failure leaves the model exactly as it was.
public struct CalibrationAlgorithmConformance {
  /// The plugin under test.
  public var plugin: any QATPlugin.Type
  /// The algorithm name it registers.
  public var algorithm: String
  /// The options to run with (`{}`: the defaults).
  public var options: JSONValue
  /// Quantize configs (without an algorithm) it supports.
  public var configs: [QuantizeConfig]
  /// The registry the plugin is added to, and that restores without it (``Registry/builtin``).
  public var baseRegistry: Registry

  /// Configures the suite.
  public init(
    plugin: any QATPlugin.Type, algorithm: String, options: JSONValue = .object([:]), configs: [QuantizeConfig],
    baseRegistry: Registry = .builtin
  ) {
    self.plugin = plugin
    self.algorithm = algorithm
    self.options = options
    self.configs = configs
    self.baseRegistry = baseRegistry
  }

  static func model() -> MLP { MLP([8, 16, 16, 4], seed: 11) }

  static func bits(_ m: Module) -> [String: [UInt32]] {
    Dictionary(m.stateDict().map { ($0.0, $0.1.scalars.map(\.bitPattern)) }, uniquingKeysWith: { a, _ in a })
  }

  /// Runs every check.
  public func run() -> ConformanceReport {
    var report = ConformanceReport(subject: "calibration algorithm '\(algorithm)' (plugin \(plugin.name))")
    var registry = baseRegistry
    report.check("the plugin registers '\(algorithm)' as a calibration algorithm") {
      try registry.register(plugin)
      return require(registry.entry(.algorithm, algorithm)?.plugin == plugin.name, "'\(algorithm)' is not registered by \(plugin.name)")
        ?? require(!configs.isEmpty, "give at least one config")
    }
    guard report.passed else { return report }
    var rng = RandomGenerator(seed: 5)
    let data = Tensor.randn([32, 8], using: &rng)
    let probe = Tensor.randn([6, 8], using: &rng)
    let loop: (Module) throws -> Void = { m in
      _ = m(data.slice(axis: 0, 0..<16))
      _ = m(data.slice(axis: 0, 16..<32))
    }
    let spec = CalibrationAlgorithmSpec(algorithm, options: options)
    for (index, base) in configs.enumerated() {
      let label = "config \(index + 1)"
      let config = base.with(algorithm: spec)
      let model = Self.model()
      var converted = false
      report.check("converts by name, records the spec and calibrates every quantizer (\(label))") {
        try convert(model, modes: [.quantize(config)], registry: registry, forwardLoop: loop)
        converted = true
        guard model.modeHistory.first?.config["algorithm"]?["method"] == .string(algorithm) else {
          return "the quantize mode's config does not record algorithm.method '\(algorithm)'"
        }
        for (path, q) in model.namedQuantizers() where q.isEnabled && q.needsCalibration && q.stateTensors().isEmpty {
          return "\(path) has no state after the algorithm ran (it must leave every quantizer calibrated)"
        }
        let y = Tensor.withoutGrad { model(probe) }.scalars
        return require(y.allSatisfy(\.isFinite), "the converted model's outputs are not finite")
      }
      guard converted else { continue }
      report.check("is deterministic (\(label))") {
        let again = Self.model()
        try convert(again, modes: [.quantize(config)], registry: registry, forwardLoop: loop)
        return require(Self.bits(again) == Self.bits(model), "a second conversion of the same model gave different state")
      }
      report.check("save → restore without the plugin is bit-identical (\(label))") {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("calib-algo-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try save(model, to: url, registry: registry)
        let fresh = MLP([8, 16, 16, 4], seed: 99)
        try restore(fresh, from: url, registry: baseRegistry)
        let a = Tensor.withoutGrad { model(probe) }.scalars.map(\.bitPattern)
        let b = Tensor.withoutGrad { fresh(probe) }.scalars.map(\.bitPattern)
        return require(Self.bits(fresh) == Self.bits(model), "restored state differs") ?? require(a == b, "restored outputs differ")
      }
      report.check("bad options and a missing forward loop fail, leaving the model as it was (\(label))") {
        let m = Self.model()
        let before = Self.bits(m)
        var bad = [String: JSONValue]()
        if case .object(let o) = options { bad = o }
        bad["noSuchOption"] = .number(1)
        do {
          try convert(m, modes: [.quantize(base.with(algorithm: .init(algorithm, options: .object(bad))))], registry: registry, forwardLoop: loop)
          return "an unknown option was accepted"
        } catch {
          if !"\(error)".contains("algorithm.noSuchOption") { return "the error does not name algorithm.noSuchOption: \(error)" }
        }
        do {
          try convert(m, modes: [.quantize(config)], registry: registry)
          return "a conversion without a forward loop was accepted"
        } catch {}
        return require(Self.bits(m) == before && m.modeHistory.isEmpty && m.namedQuantizers().isEmpty, "a failed conversion changed the model")
      }
    }
    return report
  }
}
