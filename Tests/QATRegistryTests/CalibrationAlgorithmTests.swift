import Foundation
import QATKit
import QATRegistry
import QATTestSupport
import Testing

/// The mode contract of calibration algorithms (a quantize config's `algorithm`), with an
/// algorithm defined here: what it changes is recorded so restore needs neither the algorithm
/// nor a forward loop, failures leave the model untouched, names and options are checked.
@Suite("Calibration algorithms in the quantize mode")
struct CalibrationAlgorithmTests {
  /// Doubles fc1's weight columns and halves its input (a pre_quant_scale on a disabled input
  /// quantizer, since the config quantizes weights only), then calibrates; `fail` throws after
  /// the changes.
  final class DoubleFC1: CalibrationAlgorithm {
    struct Options: PluginOptions, Equatable {
      var fail = false
      init() {}
    }
    let options: Options
    init(_ options: Options) { self.options = options }

    func run(_ session: CalibrationSession) throws -> JSONValue {
      let fc1 = try #require(session.linearLayers().first { $0.path == "fc1" })
      fc1.layer.weight.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] *= 2 } }
      try session.setInputScale([Float](repeating: 0.5, count: fc1.layer.inFeatures), of: fc1.layer, path: fc1.path)
      var seen = 0
      try session.runForwardLoop(observing: [fc1.layer]) { _, x in seen += x.shape[0] }
      if options.fail { throw QuantizerError.calibrationFailed(path: "fc1", "asked to fail") }
      try session.calibrate()
      return .object(["rows": .number(Double(seen))])
    }
  }

  static var registry: Registry {
    var r = Registry.builtin
    try! r.register(algorithm: "double_fc1", summary: "test") {
      DoubleFC1(try JSONValue.decodeOptions($0, as: DoubleFC1.Options.self, context: "double_fc1 options"))
    }
    return r
  }

  static let weightsOnly = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0), activations: nil)

  static func data() -> Tensor {
    var rng = RandomGenerator(seed: 3)
    return Tensor.randn([24, 8], using: &rng)
  }

  static func state(_ m: Module) -> [String: [UInt32]] {
    Dictionary(m.stateDict().map { ($0.0, $0.1.scalars.map(\.bitPattern)) }, uniquingKeysWith: { a, _ in a })
  }

  static func loop(_ x: Tensor) -> (Module) throws -> Void { { m in _ = m(x.slice(axis: 0, 0..<12)); _ = m(x.slice(axis: 0, 12..<24)) } }

  @Test func recordedAndRestoredWithoutRerunning() throws {
    let x = Self.data()
    let plain = MLP([8, 16, 4], seed: 1)
    let m = MLP([8, 16, 4], seed: 1)
    try convert(plain, modes: [.quantize(Self.weightsOnly)], registry: Self.registry, forwardLoop: Self.loop(x))
    try convert(m, modes: [.quantize(Self.weightsOnly.with(algorithm: .init("double_fc1")))], registry: Self.registry, forwardLoop: Self.loop(x))
    // The spec is in the config, the report in the metadata; fc1's input carries the factor.
    let record = try #require(m.modeHistory.first)
    #expect(record.config["algorithm"] == .object(["method": .string("double_fc1")]))
    #expect(record.metadata["algorithm"]?["rows"] == .number(24))
    let carrier = try #require(m.layers[0].quantizer(slot: "input_quantizer") as? TensorQuantizer)
    #expect(!carrier.isEnabled && carrier.preQuantScale?.scalars == [Float](repeating: 0.5, count: 8))
    // Same function as the plain model up to the rounding of the doubled weight (exact here:
    // ×2 and ×0.5 are exact and INT8 ranges scale with the weight).
    #expect(Tensor.withoutGrad { m(x) }.scalars == Tensor.withoutGrad { plain(x) }.scalars)
    // Restore onto a fresh model with the built-in registry: no algorithm, no forward loop.
    let url = temporaryFileURL("algo").appendingPathExtension("safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try save(m, to: url, registry: Self.registry)
    let fresh = MLP([8, 16, 4], seed: 9)
    try restore(fresh, from: url, registry: .builtin)
    #expect(Tensor.withoutGrad { fresh(x) }.scalars.map(\.bitPattern) == Tensor.withoutGrad { m(x) }.scalars.map(\.bitPattern))
    #expect(Self.state(fresh) == Self.state(m))
  }

  @Test func maxIsPlainCalibration() throws {
    let x = Self.data()
    let config = QuantizeConfig.weightsAndActivations(weights: .int(4, axis: 0), activations: .int(8))
    let a = MLP([8, 16, 4], seed: 1), b = MLP([8, 16, 4], seed: 1)
    try convert(a, modes: [.quantize(config)], registry: .builtin, forwardLoop: Self.loop(x))
    try convert(b, modes: [.quantize(config.with(algorithm: .init("max")))], registry: .builtin, forwardLoop: Self.loop(x))
    #expect(Self.state(a) == Self.state(b))
  }

  @Test func failuresLeaveTheModelAsItWas() throws {
    let x = Self.data()
    let m = MLP([8, 16, 4], seed: 1)
    let before = Self.state(m)
    let failing = Self.weightsOnly.with(algorithm: .init("double_fc1", options: .object(["fail": .bool(true)])))
    #expect(throws: (any Error).self) { try convert(m, modes: [.quantize(failing)], registry: Self.registry, forwardLoop: Self.loop(x)) }
    #expect(Self.state(m) == before && m.namedQuantizers().isEmpty && m.modeHistory.isEmpty)
    func message(_ spec: CalibrationAlgorithmSpec, loop: Bool = true) -> String {
      do {
        try convert(m, modes: [.quantize(Self.weightsOnly.with(algorithm: spec))], registry: Self.registry, forwardLoop: loop ? Self.loop(x) : nil)
        return ""
      } catch { return "\(error)" }
    }
    #expect(message(.init("double_fc")).contains("did you mean 'double_fc1'"))
    #expect(message(.init("double_fc1", options: .object(["fial": .bool(true)]))).contains("algorithm.fial"))
    #expect(message(.init("double_fc1"), loop: false).contains("needs calibration data"))
    #expect(m.namedQuantizers().isEmpty && m.modeHistory.isEmpty)
  }

  @Test func specJSON() throws {
    let bare = try JSONValue(parsing: #"{"quantCfg": [], "algorithm": "awq_lite"}"#).decode(QuantizeConfig.self, context: "t")
    #expect(bare.algorithm == CalibrationAlgorithmSpec("awq_lite"))
    let object = try JSONValue(parsing: #"{"quantCfg": [], "algorithm": {"method": "gptq", "blockSize": 64}}"#).decode(QuantizeConfig.self, context: "t")
    #expect(object.algorithm == CalibrationAlgorithmSpec("gptq", options: .object(["blockSize": .number(64)])))
    #expect(try JSONValue.encoding(object).decode(QuantizeConfig.self, context: "t") == object)
    #expect(throws: (any Error).self) { try JSONValue(parsing: #"{"quantCfg": [], "algorithm": {"blockSize": 64}}"#).decode(QuantizeConfig.self, context: "t") }
    #expect(Registry.builtin.entry(.algorithm, "max") != nil)
  }
}
