import Foundation
import QATKit
import QATPluginTesting
import QATPlugins
import QATRegistry
import QATTestSupport
import Testing

@testable import QATPluginAWQ

/// AWQ (Lin et al., MLSys 2024) on the digits MLP.
@Suite struct AWQTests {
  static let int4Blocks = QuantizeConfig.weightsAndActivations(weights: .int(4, blockSize: 32), activations: nil)

  /// ModelOpt's scale formula on a hand-checked example: `x^α / w^(1-α)`, normalized by
  /// `√(max·min)`.
  @Test func scaleFormula() {
    let s = AWQMath.scales(act: [4, 1], weight: [1, 4], alpha: 0.5)
    // raw: [4^.5/1^.5, 1/4^.5] = [2, 0.5]; √(2·0.5) = 1
    #expect(s == [2, 0.5])
    #expect(AWQMath.scales(act: [3, 5], weight: [2, 7], alpha: 0) == AWQMath.scales(act: [1, 1], weight: [2, 7], alpha: 0))
    #expect(AWQLite.alphas(step: 0.1).count == 11)
    #expect(AWQLite.alphas(step: 0.25) == [0, 0.25, 0.5, 0.75, 1])
    // |w| / max|w| per block of 2, mean over rows.
    let w = try! Tensor([1, -2, 4, 4, 2, 2, -1, 0], shape: [2, 4])
    #expect(AWQMath.weightScale([w], blockSize: 2) == [0.75, 1, 1, 0.5])
    #expect(AWQClip.ratios(AWQClip.Options()).count == 11)
  }

  /// The unit-level claim: on the layers' own full-precision inputs, INT4 weights (blocks of 32)
  /// after AWQ err less than after max calibration, layer by layer; awq_full (clipping on top) at
  /// The search's error from the Gram matrix equals the direct one (the quantized layer's
  /// output against the full-precision output, summed over batches) for the unscaled weight and
  /// scaled candidates, per block and per channel.
  @Test func gramLossMatchesTheDirectOutputError() throws {
    var rng = RandomGenerator(seed: 17)
    let weight = Tensor.randn([12, 64], std: 0.3, using: &rng)
    let batches = (0..<3).map { b in Tensor.randn([20 + b, 64], std: 1, using: &rng) }
    var gram = [Double](repeating: 0, count: 64 * 64)
    for x in batches { AWQMath.addGram(x, into: &gram) }
    let g = try Tensor(gram.map { Float($0) }, shape: [64, 64])
    let act = (0..<64).map { 0.5 + Float($0 % 7) }
    let w = AWQMath.weightScale([weight], blockSize: 32)
    for attributes in [QuantizerAttributes.int(4, blockSize: 32), .int(4, axis: 0), .int(8, axis: 0)] {
      let q = try TensorQuantizer(attributes: attributes)
      for scale in [nil] + [0.0, 0.5, 1.0].map({ AWQMath.scales(act: act, weight: w, alpha: Float($0)) }) {
        let fast = try AWQMath.candidateLoss(gram: g, weight: weight, scale: scale, quantizer: q)
        let plain = try AWQMath.referenceLoss(rows: batches, weight: weight, scale: scale, quantizer: q)
        #expect(plain > 0 && abs(fast - plain) <= 1e-3 * plain, "\(attributes.format) \(attributes.granularity): Gram \(fast), direct \(plain)")
      }
    }
  }

  /// The clipping search's per-group error from the Gram matrices equals the direct one on the
  /// tokens, per block, per output channel and per tensor.
  @Test func clipGramLossesMatchTheDirectOnes() throws {
    var rng = RandomGenerator(seed: 23)
    let err = Tensor.randn([6, 64], std: 0.05, using: &rng)
    let batches = (0..<3).map { b in Tensor.randn([17 + b, 64], std: 1, using: &rng) }
    for blockSize in [32, 16, nil] as [Int?] {
      var gram = [Double](repeating: 0, count: blockSize.map { 64 * $0 } ?? 64 * 64)
      for x in batches { AWQClip.addGrams(x, blockSize: blockSize, into: &gram) }
      let fast = AWQClip.groupLosses(err, grams: try AWQClip.gramTensors(gram, cols: 64, blockSize: blockSize), blockSize: blockSize)
      let plain = AWQClip.referenceGroupLosses(err, rows: batches, blockSize: blockSize)
      #expect(fast.count == 6 * (64 / (blockSize ?? 64)) && fast.count == plain.count)
      for (a, b) in zip(fast, plain) { #expect(b > 0 && abs(a - b) <= 1e-3 * b, "block \(blockSize.map { "\($0)" } ?? "none"): Gram \(a), direct \(b)") }
    }
  }

  /// least as well as awq_lite. Test accuracy is printed.
  @Test func reducesLayerOutputErrorAgainstMax() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, test) = try DigitsAlgorithmBench.data()
    let maxQ = try DigitsAlgorithmBench.quantized(fp, Self.int4Blocks, calibration: calibration)
    var noFold = JSONValue.object(["fold": .bool(false)])
    let lite = try DigitsAlgorithmBench.quantized(
      fp, Self.int4Blocks.with(algorithm: .init("awq_lite", options: noFold)), calibration: calibration)
    noFold = .object(["fold": .bool(false)])
    let full = try DigitsAlgorithmBench.quantized(
      fp, Self.int4Blocks.with(algorithm: .init("awq_full", options: noFold)), calibration: calibration)
    let eMax = DigitsAlgorithmBench.layerErrors(fp: fp, quantized: maxQ, on: calibration)
    let eLite = DigitsAlgorithmBench.layerErrors(fp: fp, quantized: lite, on: calibration)
    let eFull = DigitsAlgorithmBench.layerErrors(fp: fp, quantized: full, on: calibration)
    print("AWQ layer errors (digits MLP, INT4 blocks of 32, 128 calibration rows): max \(eMax), awq_lite \(eLite), awq_full \(eFull)")
    print("AWQ test accuracy: FP32 \(try Training.accuracy(fp, on: test)), max \(try Training.accuracy(maxQ, on: test)), awq_lite \(try Training.accuracy(lite, on: test)), awq_full \(try Training.accuracy(full, on: test))")
    for i in 0..<3 {
      #expect(eLite[i] <= eMax[i], "layer \(i + 1)")
      #expect(eFull[i] <= eLite[i] * 1.0001, "layer \(i + 1)")
    }
    // The digits inputs have few outlier channels, so the scales win little (about 5% here);
    // the clip search most of the rest.
    #expect(eLite.reduce(0, +) < 0.97 * eMax.reduce(0, +))
    #expect(eFull.reduce(0, +) < 0.8 * eMax.reduce(0, +))
  }

  /// The scale of fc2 and fc3 folds into fc1 and fc2 (ReLU commutes with positive factors); fc1
  /// (the model input) keeps a `pre_quant_scale` in a disabled input quantizer. Folded and
  /// unfolded models compute the same function.
  @Test func foldsThroughReLUAndKeepsTheRestAsPreQuantScale() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, _) = try DigitsAlgorithmBench.data(calibrationRows: 64)
    let folded = try DigitsAlgorithmBench.quantized(fp, Self.int4Blocks.with(algorithm: .init("awq_lite")), calibration: calibration)
    let kept = try DigitsAlgorithmBench.quantized(
      fp, Self.int4Blocks.with(algorithm: .init("awq_lite", options: .object(["fold": .bool(false)]))), calibration: calibration)
    let carrier = folded.layers[0].quantizer(slot: "input_quantizer") as? TensorQuantizer
    #expect(carrier?.isEnabled == false && carrier?.preQuantScale != nil)
    // Layers whose search kept the unscaled weight (α null) get no scale at all.
    let scaled = (1..<3).filter { kept.modeHistory[0].metadata["algorithm"]?["layers"]?["fc\($0 + 1)"]?["alpha"] != .null }
    #expect(scaled.contains(1), "fc2 is scaled")
    for i in 1..<3 {
      #expect(folded.layers[i].quantizer(slot: "input_quantizer") == nil, "fc\(i + 1) keeps no input slot")
      let kept = (kept.layers[i].quantizer(slot: "input_quantizer") as? TensorQuantizer)?.preQuantScale
      #expect((kept != nil) == scaled.contains(i), "fc\(i + 1)")
    }
    // Same logits up to float rounding (the rounding of rescaled weights may differ in a few
    // ties; every logit within 2% of the largest).
    let a = Tensor.withoutGrad { folded(calibration) }.scalars, b = Tensor.withoutGrad { kept(calibration) }.scalars
    let scale = b.map(abs).max()!
    #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 0.02 * scale })
    let report = folded.modeHistory[0].metadata["algorithm"]?["layers"]?["fc2"]?["foldedInto"]
    #expect(report == .string("fc1"))
  }

  /// A checkpoint restores bit for bit onto a fresh model, without AWQ registered: the scaled
  /// weights are weights, the scales quantizer state.
  @Test func restoresBitIdenticallyWithoutThePlugin() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, _) = try DigitsAlgorithmBench.data(calibrationRows: 64)
    let m = try DigitsAlgorithmBench.quantized(fp, Self.int4Blocks.with(algorithm: .init("awq_full")), calibration: calibration)
    let url = temporaryFileURL("awq").appendingPathExtension("safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try save(m, to: url, registry: InTreePlugins.registry)
    let fresh = MLP([64, 256, 256, 10])
    try restore(fresh, from: url, registry: .builtin)
    #expect(DigitsAlgorithmBench.bits(fresh) == DigitsAlgorithmBench.bits(m))
    let x = calibration.slice(axis: 0, 0..<16)
    #expect(Tensor.withoutGrad { fresh(x) }.scalars.map(\.bitPattern) == Tensor.withoutGrad { m(x) }.scalars.map(\.bitPattern))
    #expect(fresh.modeHistory.first?.config["algorithm"]?["method"] == .string("awq_full"))
  }

  /// Options are strict and named under `algorithm`; a weight quantizer AWQ cannot search with
  /// is refused and the model is left as it was.
  @Test func refusesBadOptionsAndLeavesTheModelUnchanged() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, _) = try DigitsAlgorithmBench.data(calibrationRows: 32)
    let m = try DigitsAlgorithmBench.copy(fp)
    let before = DigitsAlgorithmBench.bits(m)
    let typo = Self.int4Blocks.with(algorithm: .init("awq_lite", options: .object(["alphaStepp": .number(0.2)])))
    #expect(throws: (any Error).self) { try convert(m, modes: [.quantize(typo)], registry: InTreePlugins.registry, forwardLoop: DigitsAlgorithmBench.loop(calibration)) }
    do {
      try convert(m, modes: [.quantize(typo)], registry: InTreePlugins.registry, forwardLoop: DigitsAlgorithmBench.loop(calibration))
    } catch {
      #expect("\(error)".contains("algorithm.alphaStepp"), "\(error)")
      #expect("\(error)".contains("alphaStep"), "\(error)")
    }
    var lsq = QuantizerAttributes.int(4, blockSize: 32)
    lsq.algorithm = "lsq"
    let wrong = QuantizeConfig.weightsAndActivations(weights: lsq, activations: nil).with(algorithm: .init("awq_lite"))
    #expect(throws: (any Error).self) { try convert(m, modes: [.quantize(wrong)], registry: InTreePlugins.registry, forwardLoop: DigitsAlgorithmBench.loop(calibration)) }
    #expect(DigitsAlgorithmBench.bits(m) == before)
    #expect(m.modeHistory.isEmpty && m.namedQuantizers().isEmpty)
    let noData = Self.int4Blocks.with(algorithm: .init("awq_lite"))
    #expect(throws: (any Error).self) { try convert(m, modes: [.quantize(noData)], registry: InTreePlugins.registry) }
    #expect(throws: (any Error).self) {
      try convert(m, modes: [.quantize(Self.int4Blocks.with(algorithm: .init("awq_lite", options: .object(["alphaStep": .number(0)]))))],
                  registry: InTreePlugins.registry, forwardLoop: DigitsAlgorithmBench.loop(calibration))
    }
  }
}

/// AWQ through the contributor kit's calibration-algorithm suite.
@Suite struct AWQConformanceTests {
  @Test(arguments: ["awq_lite", "awq_clip", "awq_full"])
  func conforms(_ name: String) {
    let report = CalibrationAlgorithmConformance(
      plugin: AWQPlugin.self, algorithm: name,
      configs: [
        .weightsAndActivations(weights: .int(4, blockSize: 8), activations: nil),
        .weightsAndActivations(weights: .int(4, axis: 0), activations: .int(8)),
      ]
    ).run()
    #expect(report.passed, "\(report)")
  }
}
