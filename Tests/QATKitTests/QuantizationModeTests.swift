import Foundation
import Testing
import QATTestSupport
@testable import QATKit

@Suite("Quantization: quantize mode")
struct QuantizationModeTests {
  private func batches(_ n: Int = 3, rows: Int = 16, cols: Int = 64, seed: UInt64 = 5) -> [Tensor] {
    var rng = RandomGenerator(seed: seed)
    return (0..<n).map { _ in Tensor.randn([rows, cols], using: &rng) }
  }

  private func context(_ data: [Tensor], env: QuantizationEnvironment? = nil) -> ModeContext {
    var ctx = ModeContext(forwardLoop: { m in for b in data { _ = m(b) } })
    if let env { ctx[QuantizationEnvironmentKey.self] = env }
    return ctx
  }

  private func snapshot(_ m: Module) -> [String: [Float]] {
    Dictionary(m.stateDict().map { ($0.0, $0.1.scalars) }, uniquingKeysWith: { a, _ in a })
  }

  /// convert → metadata → restore on a fresh model → load state → identical outputs.
  private func roundTrip(_ make: () -> Module, _ cfg: QuantizeConfig, data: [Tensor]) throws -> Module {
    let model = make()
    let (q, meta) = try QuantizeMode.convert(model, config: cfg, context: context(data))
    let config = try QuantizeMode.decode(QuantizeMode.encode(cfg))
    let fresh = make()
    let restored = try QuantizeMode.restore(fresh, config: config, metadata: JSONValue(parsing: meta.text), context: ModeContext())
    let state = Dictionary(q.stateDict().map { ($0.0, $0.1.detach()) }, uniquingKeysWith: { a, _ in a })
    try restored.loadStateDict(state)
    q.eval()
    restored.eval()
    let x = data[0]
    let a = Tensor.withoutGrad { q(x) }.scalars
    let b = Tensor.withoutGrad { restored(x) }.scalars
    #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
    #expect(Set(restored.stateDict().map(\.0)) == Set(state.keys))
    return q
  }

  @Test func mlpRoundTripIsBitIdentical() throws {
    let cfg = QuantizeConfig.weightsAndActivations(weights: .int(4, axis: 0, calibrator: "mse"), activations: .int(4, calibrator: "percentile"))
      .adding("fc1.input_quantizer", .int(8))
    let q = try roundTrip({ MLP([64, 32, 10], seed: 1) }, cfg, data: batches())
    let keys = q.stateDict().map(\.0)
    #expect(keys.contains("fc1.weight_quantizer._amax"))
    #expect(q.stateDict().first { $0.0 == "fc1.weight_quantizer._amax" }?.1.shape == [32, 1])
    #expect(q.stateDict().first { $0.0 == "fc2.input_quantizer._amax" }?.1.shape == [])
    #expect(q.quantizerSummary().contains("fc1.weight_quantizer | static | int4 | per-channel(axis 0)"))
  }

  @Test func transformerWithAttentionQuantizersRoundTrip() throws {
    let cfg = QuantizeConfig(preset: .int8)
      .adding("*[qkv]_bmm_quantizer", .int(8))
      .adding("*p_bmm_quantizer", QuantizerAttributes(format: .e4m3))
    let q = try roundTrip({ DigitsTransformer(dim: 16, heads: 2, seed: 3) }, cfg, data: batches(2, rows: 4))
    let paths = q.namedQuantizers().map(\.0)
    #expect(paths.contains("block.attention.q_bmm_quantizer"))
    #expect(paths.contains("block.attention.p_bmm_quantizer"))
    let amax = (q.namedQuantizers().first { $0.0 == "block.attention.k_bmm_quantizer" }!.1 as! TensorQuantizer).amax
    #expect((amax?.item ?? 0) > 0)
  }

  @Test func nvfp4AndMXRoundTrip() throws {
    for preset in [QuantizePreset.nvfp4, .mxfp4, .fp8] {
      _ = try roundTrip({ MLP([64, 32, 32], seed: 2) }, QuantizeConfig(preset: preset), data: batches(2))
    }
  }

  @Test func badInputLeavesModelUnchanged() throws {
    let cases: [QuantizeConfig] = [
      QuantizeConfig([.init("*weight_quantizer", cfg: .int(9))]),
      QuantizeConfig([.init("*weight_quantizer", cfg: .int(4, blockSize: 128))]),  // 64 % 128 != 0
      QuantizeConfig([.init("*weight_quantizer", cfg: .int(8, axis: 2))]),
      QuantizeConfig([.init("*weight_quantizer", cfg: QuantizerAttributes(format: .nvfp4, axis: 0))]),
      QuantizeConfig([.init("*weight_quantizer", cfg: .int(8, calibrator: "mxx"))]),
      QuantizeConfig([.init("*weight_quantizer", cfg: QuantizerAttributes(algorithm: "lsq"))]),
      QuantizeConfig([.init("*input_quantizer", cfg: .int(8)), .init("*nothing*", cfg: .int(8))]),
      QuantizeConfig([.init("*input_quantizer", cfg: .int(8, calibrator: "percentile").with(options: .object(["percentile": .number(0)])))]),
    ]
    for cfg in cases {
      let model = MLP([64, 32, 10], seed: 1)
      let before = snapshot(model)
      #expect(throws: (any Error).self) { try QuantizeMode.convert(model, config: cfg, context: context(batches(1))) }
      #expect(model.namedQuantizers().isEmpty)
      #expect(snapshot(model) == before)
    }
    // Unknown names suggest the nearest known one.
    do {
      _ = try QuantizeMode.convert(MLP([64, 10]), config: cases[4], context: context(batches(1)))
    } catch let e as ConfigError {
      #expect(e.description.contains("did you mean 'max'"))
    }
    // Static activation quantizers without a forward loop.
    let model = MLP([64, 10])
    #expect(throws: QuantizerError.self) { try QuantizeMode.convert(model, config: QuantizeConfig(preset: .int8), context: ModeContext()) }
    #expect(model.namedQuantizers().isEmpty)
    // Weight-only needs no loop.
    _ = try QuantizeMode.convert(model, config: QuantizeConfig(preset: .int8WeightOnly), context: ModeContext())
    #expect(model.namedQuantizers().count == 1)
  }

  @Test func pluginLayerSlotsAndFactoriesComeFromTheEnvironment() throws {
    final class Scale: Module {
      let weight = Tensor.ones([4])
      override func forward(_ x: Tensor) -> Tensor { quantize(x, slot: "input_quantizer") * quantize(weight, slot: "weight_quantizer") }
    }
    var env = QuantizationEnvironment.builtin
    env.layerSlots["Scale"] = ["input_quantizer", "weight_quantizer"]
    env.quantizers["custom"] = { try TensorQuantizer(attributes: $0) }
    let cfg = QuantizeConfig([.init("*", cfg: QuantizerAttributes(format: .int(bits: 3, signed: true), algorithm: "custom"))])
    let m = Scale()
    var rng = RandomGenerator(seed: 42)
    _ = try QuantizeMode.convert(m, config: cfg, context: context([Tensor.randn([2, 4], using: &rng)], env: env))
    #expect(m.namedQuantizers().map(\.0).sorted() == ["input_quantizer", "weight_quantizer"])
  }

  @Test func exportedBlockScalesUseTheWeightLayout() throws {
    // The range state is ModelOpt's `[blocks, 1]`; the exported weight_scale is `[rows, blocksPerRow]`.
    let model = MLP([8, 4], seed: 4)
    _ = try QuantizeMode.convert(
      model, config: .weightsAndActivations(weights: .int(4, blockSize: 4), activations: nil), context: context([]))
    #expect(model.layers[0].quantizer(slot: "weight_quantizer")!.stateTensors()[0].1.shape == [8, 1])
    let url = temporaryFileURL("block-export.safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try writeQuantizedSafeTensors(model, to: url)
    #expect(try SafeTensors.open(contentsOf: url).info("fc1.weight_scale").shape == [4, 2])
  }

  @Test func exportVerifiesAndWritesSafeTensors() throws {
    let model = MLP([64, 32, 10], seed: 4)
    _ = try QuantizeMode.convert(model, config: QuantizeConfig(preset: .int8).adding("fc2.weight_quantizer", QuantizerAttributes(format: .nvfp4)), context: context(batches(2)))
    let exported = try exportQuantized(model)
    #expect(Set(exported.keys) == ["fc1.weight", "fc2.weight"])
    #expect(exported["fc1.weight"]?.codeDType == .i8)
    let url = temporaryFileURL("quant-export.safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try writeQuantizedSafeTensors(model, to: url)
    let file = try SafeTensors.open(contentsOf: url)
    #expect(try file.info("fc1.weight").dtype == .i8)
    #expect(try file.info("fc1.weight_scale").shape == [32, 1])
    #expect(try file.info("fc2.weight").shape == [10, 16])
    #expect(try file.info("fc2.weight_scale").dtype == .f8E4M3)
    #expect(try file.info("fc2.weight_scale_2").shape == [])
    #expect(file.contains("fc1.input_scale"))
    // Codes times scale give the fake-quantized weight (INT8, per channel).
    let codes = try file.rawBytes("fc1.weight").map { Float(Int8(bitPattern: $0)) }
    let scales = try file.floats("fc1.weight_scale")
    let q = model.layers[0].quantizer(slot: "weight_quantizer")!
    let fake = Tensor.withoutGrad { q(model.layers[0].weight) }.scalars
    for i in stride(from: 0, to: codes.count, by: 97) {
      #expect(abs(codes[i] * scales[i / 64] - fake[i]) <= 1e-6 * max(1, abs(fake[i])))
    }
  }
}

extension QuantizerAttributes {
  fileprivate func with(options: JSONValue) -> QuantizerAttributes {
    var a = self
    a.calibratorOptions = options
    return a
  }
}
