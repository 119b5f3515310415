import Foundation
import QATKit
import QATPluginTesting
import QATPlugins
import QATRegistry
import QATTestSupport
import Testing

@testable import QATPluginLSQ

/// `lsq_ranges` after a calibration algorithm: LSQ starts from the algorithm's weights, ranges
/// and `pre_quant_scale`s, learns, and the checkpoint restores bit for bit.
@Suite struct LSQRangesModeTests {
  static let w8a8 = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(8))

  /// SmoothQuant without folding (a `pre_quant_scale` on every input) then `lsq_ranges`: every
  /// quantizer is LSQ with the algorithm's range and factors, the weights are the smoothed
  /// ones, the function is the PTQ model's; one QAD step moves the ranges (not the factors); the
  /// saved model restores onto a fresh MLP bit-identically.
  @Test func startsFromTheAlgorithmAndRestores() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, _) = try DigitsAlgorithmBench.data(calibrationRows: 64)
    let config = Self.w8a8.with(algorithm: .init("smoothquant", options: .object(["fold": .bool(false)])))
    let ptq = try DigitsAlgorithmBench.quantized(fp, config, calibration: calibration)
    let m = try DigitsAlgorithmBench.copy(fp)
    try convert(
      m, modes: [.quantize(config), .named("lsq_ranges")], registry: InTreePlugins.registry,
      forwardLoop: DigitsAlgorithmBench.loop(calibration))
    #expect(m.modeHistory.map(\.name) == ["quantize", "lsq_ranges"])
    for (l, p) in zip(m.layers, ptq.layers) {
      #expect(l.weight.scalars == p.weight.scalars, "the algorithm's weights are kept")
      for slot in ["weight_quantizer", "input_quantizer"] {
        let lsq = try #require(l.quantizer(slot: slot) as? LSQQuantizer, "\(slot) is LSQ")
        let tq = try #require(p.quantizer(slot: slot) as? TensorQuantizer)
        #expect(lsq.amax?.scalars == tq.amax?.scalars, "\(slot): LSQ starts from the algorithm's range")
        #expect(lsq.preQuantScale?.scalars == tq.preQuantScale?.scalars, "\(slot): pre_quant_scale kept")
      }
      #expect((l.quantizer(slot: "input_quantizer") as? LSQQuantizer)?.preQuantScale != nil)
    }
    let x = calibration.slice(axis: 0, 0..<16)
    let (a, b) = Tensor.withoutGrad { (m(x).scalars, ptq(x).scalars) }
    let scale = b.map(abs).max() ?? 1
    #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * scale }, "the converted model computes the PTQ model's function")

    // One QAD step: the ranges learn, the pre_quant_scales stay.
    let inputQ = try #require(m.layers[1].quantizer(slot: "input_quantizer") as? LSQQuantizer)
    let (rangeBefore, factorsBefore) = (inputQ.amax!.scalars, inputQ.preQuantScale!.scalars)
    #expect(m.parameters().contains { $0 === inputQ.amax! }, "the learned range is a model parameter")
    let teacher = try DigitsAlgorithmBench.copy(fp)
    let optimizer = Adam(m.parameters(), learningRate: 1e-3)
    m.train()
    optimizer.zeroGrad()
    let target = Tensor.withoutGrad { teacher(x) }
    Loss.mse(m(x), target).backward()
    optimizer.step()
    #expect(inputQ.amax!.scalars != rangeBefore && inputQ.preQuantScale!.scalars == factorsBefore)

    let url = temporaryFileURL("lsq-ranges").appendingPathExtension("safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try save(m, to: url, registry: InTreePlugins.registry)
    let fresh = MLP([64, 256, 256, 10])
    try restore(fresh, from: url, registry: InTreePlugins.registry)
    #expect(fresh.modeHistory.map(\.name) == ["quantize", "lsq_ranges"])
    #expect(fresh.namedQuantizers().filter(\.1.isEnabled).allSatisfy { $0.1 is LSQQuantizer })
    #expect(DigitsAlgorithmBench.bits(fresh) == DigitsAlgorithmBench.bits(m))
    m.eval()
    fresh.eval()
    #expect(Tensor.withoutGrad { fresh(x) }.scalars == Tensor.withoutGrad { m(x) }.scalars)
  }

  /// AWQ-full on INT4 block weights: only the weight quantizers convert (the inputs are
  /// disabled `pre_quant_scale` carriers and stay); the clipped per-block ranges are LSQ's.
  @Test func awqWeightOnlyKeepsClippedRanges() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, _) = try DigitsAlgorithmBench.data(calibrationRows: 64)
    let config = QuantizeConfig.weightsAndActivations(weights: .int(4, blockSize: 32), activations: nil)
      .with(algorithm: .init("awq_full"))
    let ptq = try DigitsAlgorithmBench.quantized(fp, config, calibration: calibration)
    let m = try DigitsAlgorithmBench.copy(fp)
    try convert(
      m, modes: [.quantize(config), .named("lsq_ranges")], registry: InTreePlugins.registry,
      forwardLoop: DigitsAlgorithmBench.loop(calibration))
    for (l, p) in zip(m.layers, ptq.layers) {
      let lsq = try #require(l.quantizer(slot: "weight_quantizer") as? LSQQuantizer)
      #expect(lsq.amax?.scalars == (p.quantizer(slot: "weight_quantizer") as? TensorQuantizer)?.amax?.scalars)
      #expect(!(l.quantizer(slot: "input_quantizer") is LSQQuantizer))
      #expect((l.quantizer(slot: "input_quantizer") as? TensorQuantizer)?.preQuantScale?.scalars
        == (p.quantizer(slot: "input_quantizer") as? TensorQuantizer)?.preQuantScale?.scalars)
    }
    let x = calibration.slice(axis: 0, 0..<16)
    let (a, b) = Tensor.withoutGrad { (m(x).scalars, ptq(x).scalars) }
    let scale = b.map(abs).max() ?? 1
    #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * scale })
  }

  /// Without calibrated built-in integer quantizers there is nothing to convert; an unknown
  /// config key is named; both leave the model as it was.
  @Test func refusesWhatItCannotConvert() throws {
    let m = MLP([8, 12, 6], seed: 1)
    do {
      try convert(m, modes: [.named("lsq_ranges")], registry: InTreePlugins.registry)
      Issue.record("lsq_ranges converted a model without quantizers")
    } catch {
      #expect("\(error)".contains("run 'quantize' with int formats first"), "\(error)")
    }
    let q = MLP([8, 12, 6], seed: 1)
    try convert(q, modes: [.quantize(.weightsAndActivations(weights: .int(8, axis: 0), activations: nil))], registry: InTreePlugins.registry)
    do {
      try convert(q, modes: [.named("lsq_ranges", .object(["activation": .bool(false)]))], registry: InTreePlugins.registry)
      Issue.record("an unknown key was accepted")
    } catch {
      #expect("\(error)".contains("activation"), "\(error)")
    }
    #expect(q.modeHistory.map(\.name) == ["quantize"] && q.namedQuantizers().allSatisfy { !($0.1 is LSQQuantizer) })
  }

  @Test func conforms() {
    let report = ModeConformance(
      plugin: LSQPlugin.self, mode: "lsq_ranges", config: .object(["gradScale": .bool(false)]),
      before: [.quantize(.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(8)))],
      forwardLoop: { m in _ = m(GradientCheck.randn([16, 8], seed: 3)) }, baseRegistry: .builtin
    ).run()
    #expect(report.passed, "\(report)")
  }
}
