import Foundation
import QATKit
import QATRegistry
import Testing
@testable import QATExport

/// Export → import → the same outputs, for every writable format; and the digits MLP's test
/// accuracy reproduced from its unified checkpoint.
@Suite("Unified checkpoint: round trip") struct UnifiedRoundTripTests {
  static func input(_ rows: Int, _ cols: Int, seed: UInt64) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.randn([rows, cols], using: &rng)
  }

  static let configs: [(String, QuantizeConfig)] = [
    ("W8A8_SQ_PER_CHANNEL", QuantizeConfig(preset: .int8)),
    ("W8A16", QuantizeConfig(preset: .int8WeightOnly)),
    ("W4A16_AWQ", .weightsAndActivations(weights: .int(4, blockSize: 32), activations: nil)),
    ("FP8", QuantizeConfig(preset: .fp8)),
    ("NVFP4", QuantizeConfig(preset: .nvfp4)),
    ("W4A16_NVFP4", .weightsAndActivations(weights: QuantizerAttributes(format: .nvfp4), activations: nil)),
    ("mxfp4", .weightsAndActivations(weights: QuantizerAttributes(format: .mxfp4), activations: nil)),
  ]

  @Test(arguments: 0..<configs.count)
  func exportImportSameOutputs(index: Int) throws {
    let (algo, config) = Self.configs[index]
    let model = MLP([32, 64, 32], seed: 3)
    let calib = Self.input(64, 32, seed: 5)
    try convert(model, modes: [.quantize(config)], forwardLoop: { _ = $0(calib) })
    let dir = tempURL("rt")
    let report = try UnifiedCheckpoint.write(model, to: dir)
    #expect(report.quantAlgo == algo)
    #expect(report.weightsBytes < report.fp32WeightsBytes)
    // The FP32 size is the model's parameters in FP32 (plus a small header), whatever the format packs.
    let params = model.namedParameters().reduce(0) { $0 + $1.1.count }
    #expect(report.fp32WeightsBytes > 4 * params && report.fp32WeightsBytes < 4 * params + 1024)

    let read = try UnifiedCheckpoint.read(dir)
    #expect(read.producer == "qatkit 0.1.0")
    #expect(read.layers.map(\.path) == ["fc1", "fc2"])
    // Dequantized weights are the fake-quantized ones (float formats bit for bit, INT ≤ 4 ulp).
    let exact = !algo.hasPrefix("W8") && algo != "W4A16_AWQ"
    #expect(exact ? report.maxULPDistance == 0 : report.maxULPDistance <= 4)
    for layer in model.layers {
      let fake = Tensor.withoutGrad { layer.quantizer(slot: "weight_quantizer")!(layer.weight) }.scalars
      let got = read.layers.first { $0.path == (layer === model.layers[0] ? "fc1" : "fc2") }!.weight.scalars
      #expect(zip(fake, got).allSatisfy { ulps($0, $1) <= (exact ? 0 : 4) })
    }
    let restored = MLP([32, 64, 32], seed: 99)
    try read.load(into: restored)
    let x = Self.input(16, 32, seed: 8)
    let want = Tensor.withoutGrad { model(x) }.scalars
    let got = Tensor.withoutGrad { restored(x) }.scalars
    let scale = want.map(abs).max()!
    let diff = zip(want, got).map { abs($0 - $1) }.max()!
    #expect(diff <= 1e-4 * scale, "\(algo): max difference \(diff)")
    for r in 0..<16 {
      let a = want[(r * 32)..<(r * 32 + 32)], b = got[(r * 32)..<(r * 32 + 32)]
      #expect(a.firstIndex(of: a.max()!)! - r * 32 == b.firstIndex(of: b.max()!)! - r * 32)
    }
  }

  /// SmoothQuant: the input quantizer's `pre_quant_scale` is written, read back into the input
  /// quantizer, and the imported model saves and restores as a QATKit checkpoint.
  @Test func preQuantScaleRoundTrip() throws {
    let model = MLP([16, 32, 8], seed: 4)
    let calib = Self.input(32, 16, seed: 6)
    try convert(model, modes: [.quantize(.int8)], forwardLoop: { _ = $0(calib) })
    let s = (0..<16).map { Float(1 + $0 % 4) * 0.5 }
    try (model.layers[0].quantizer(slot: "input_quantizer") as! TensorQuantizer).setPreQuantScale(Tensor(s))
    let dir = tempURL("sq")
    try UnifiedCheckpoint.write(model, to: dir)
    let f = try SafeTensorsFile(contentsOf: dir.appendingPathComponent("model.safetensors"))
    #expect(try f.floats("fc1.pre_quant_scale") == s)
    #expect(!f.contains("fc2.pre_quant_scale"))

    let restored = MLP([16, 32, 8], seed: 0)
    try UnifiedCheckpoint.read(dir).load(into: restored)
    let iq = restored.layers[0].quantizer(slot: "input_quantizer") as! TensorQuantizer
    #expect(iq.preQuantScale?.scalars == s)
    let x = Self.input(8, 16, seed: 9)
    let want = Tensor.withoutGrad { model(x) }.scalars
    let got = Tensor.withoutGrad { restored(x) }.scalars
    #expect(zip(want, got).allSatisfy { abs($0 - $1) <= 1e-4 })

    let ckpt = tempURL("imported.safetensors")
    try save(restored, to: ckpt)
    let again = try restore(MLP([16, 32, 8], seed: 1), from: ckpt)
    #expect(Tensor.withoutGrad { again(x) }.scalars == got)
  }

  /// The PyTorch-trained digits MLP, INT8 PTQ (W8A8) and INT4 weight-only: the model
  /// imported from the unified checkpoint classifies the test set exactly as QATKit's
  /// fake-quantized model does.
  @Test(arguments: ["int8", "int4_weight_only"])
  func digitsAccuracyReproduced(preset: String) throws {
    let (train, test) = try Digits.load()
    let fp32 = try SafeTensorsFile(contentsOf: fixtures().appendingPathComponent("models/mlp_digits_fp32.safetensors"))
    let model = MLP([64, 256, 256, 10])
    try model.loadStateDict(Dictionary(uniqueKeysWithValues: try fp32.names.map { ($0, try Tensor(fp32.floats($0), shape: fp32.info($0).shape)) }))
    var config = QuantizeConfig(preset: try QuantizePreset(named: preset))
    if preset == "int4_weight_only" { config = config.adding("fc1.weight_quantizer", .int(4, blockSize: 64)) }
    try convert(model, modes: [.quantize(config)], forwardLoop: { m in for b in try train.batches(size: 256) { _ = m(b.inputs) } })
    let dir = tempURL("digits")
    let report = try UnifiedCheckpoint.write(model, to: dir)
    let imported = MLP([64, 256, 256, 10])
    try UnifiedCheckpoint.read(dir).load(into: imported)
    let x = Tensor(shape: [test.count, 64], storage: test.features)
    let want = Tensor.withoutGrad { model(x) }.scalars
    let got = Tensor.withoutGrad { imported(x) }.scalars
    func argmax(_ v: [Float], _ r: Int) -> Int { (0..<10).max { v[r * 10 + $0] < v[r * 10 + $1] }! }
    #expect((0..<test.count).allSatisfy { argmax(want, $0) == argmax(got, $0) })
    #expect(try Training.accuracy(imported, on: test) == Training.accuracy(model, on: test))
    if preset == "int4_weight_only" { #expect(report.quantAlgo == "MIXED_PRECISION") }
  }
}

/// AWQ on weight-only layers leaves its `pre_quant_scale` on a *disabled* input quantizer; both
/// exporters must keep it (dropping it would silently change the model).
@Suite("Exports keep the pre_quant_scale of disabled input quantizers") struct DisabledPreQuantScaleExportTests {
  static func awqLike() throws -> (MLP, [Float]) {
    let model = MLP([32, 64, 32], seed: 3)
    let calib = UnifiedRoundTripTests.input(64, 32, seed: 5)
    try convert(model, modes: [.quantize(.weightsAndActivations(weights: .int(4, blockSize: 32), activations: nil))], forwardLoop: { _ = $0(calib) })
    let s = (0..<32).map { Float(1 + $0 % 5) * 0.25 }
    let carrier = try TensorQuantizer(attributes: QuantizerAttributes(enable: false))
    try carrier.setPreQuantScale(Tensor(s))
    model.layers[0].setQuantizer(carrier, slot: "input_quantizer")
    return (model, s)
  }

  @Test func unifiedW4A16WritesAndLoadsIt() throws {
    let (model, s) = try Self.awqLike()
    let dir = tempURL("awq-pqs")
    let report = try UnifiedCheckpoint.write(model, to: dir)
    #expect(report.quantAlgo == "W4A16_AWQ")
    let f = try SafeTensorsFile(contentsOf: dir.appendingPathComponent("model.safetensors"))
    #expect(try f.floats("fc1.pre_quant_scale") == s)
    #expect(try f.floats("fc2.pre_quant_scale") == [Float](repeating: 1, count: 64))
    let restored = MLP([32, 64, 32], seed: 99)
    try UnifiedCheckpoint.read(dir).load(into: restored)
    let x = UnifiedRoundTripTests.input(16, 32, seed: 8)
    let want = Tensor.withoutGrad { model(x) }.scalars, got = Tensor.withoutGrad { restored(x) }.scalars
    let scale = want.map(abs).max()!
    #expect(zip(want, got).allSatisfy { abs($0 - $1) <= 1e-4 * scale })
  }

  @Test func onnxMultipliesBeforeTheLayer() throws {
    let (model, s) = try Self.awqLike()
    let graph = try ONNXExporter.standard.graph(for: model, inputShape: [1, 32]).graph
    let constant = try #require(graph.initializers.first { $0.name.hasSuffix("input_quantizer.pre_quant_scale") })
    #expect(constant.dims == [32] && constant.floats == s)
    #expect(graph.nodes.contains { $0.opType == "Mul" && $0.inputs.contains(constant.name) })
  }
}
