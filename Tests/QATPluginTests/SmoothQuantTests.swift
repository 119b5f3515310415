import Foundation
import QATKit
import QATPluginTesting
import QATPlugins
import QATRegistry
import QATTestSupport
import Testing

@testable import QATPluginSmoothQuant

/// SmoothQuant (Xiao et al., ICML 2023) on the digits MLP.
@Suite struct SmoothQuantTests {
  /// The smoothing factors on a hand-checked example: `1/s = max|w|^(1-α) / max|x|^α`, 1 for a
  /// silent channel, clamped.
  @Test func factorFormula() {
    #expect(SmoothQuant.preQuantScale(act: [4, 0, 1e-12], weight: [1, 3, 1], alpha: 0.5) == [0.5, 1, 1])
    #expect(SmoothQuant.preQuantScale(act: [2], weight: [8], alpha: 1) == [0.5])
    #expect(SmoothQuant.preQuantScale(act: [1e9], weight: [1], alpha: 1) == [1e-4])
    let w = try! Tensor([1, -3, 2, 0.5], shape: [2, 2])
    #expect(SmoothQuant.columnMaxima([w]) == [2, 3])
  }

  /// The unit-level claim on W8A8 and W8A4 (INT8 weights per output channel, activations per
  /// tensor): with the α search each layer errs no more than with max calibration (the unsmoothed
  /// layer is a candidate), and the model as a whole less; the fixed α = 0.5 is printed.
  @Test func reducesLayerOutputErrorAgainstMax() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, test) = try DigitsAlgorithmBench.data()
    for bits in [8, 4] {
      let config = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(bits))
      let plain = try DigitsAlgorithmBench.quantized(fp, config, calibration: calibration)
      let fixed = try DigitsAlgorithmBench.quantized(
        fp, config.with(algorithm: .init("smoothquant", options: .object(["fold": .bool(false)]))), calibration: calibration)
      let searched = try DigitsAlgorithmBench.quantized(
        fp,
        config.with(algorithm: .init("smoothquant", options: .object(["fold": .bool(false), "alphas": .array([0.25, 0.5, 0.75].map { .number($0) })]))),
        calibration: calibration)
      let eMax = DigitsAlgorithmBench.layerErrors(fp: fp, quantized: plain, on: calibration)
      let eFixed = DigitsAlgorithmBench.layerErrors(fp: fp, quantized: fixed, on: calibration)
      let eSearch = DigitsAlgorithmBench.layerErrors(fp: fp, quantized: searched, on: calibration)
      print("SmoothQuant W8A\(bits) layer errors (digits MLP): max \(eMax), α 0.5 \(eFixed), α searched \(eSearch); test accuracy max \(try Training.accuracy(plain, on: test)), α 0.5 \(try Training.accuracy(fixed, on: test)), searched \(try Training.accuracy(searched, on: test))")
      for i in 0..<3 { #expect(eSearch[i] <= eMax[i] * 1.000001, "W8A\(bits) layer \(i + 1)") }
      #expect(eSearch.reduce(0, +) < eMax.reduce(0, +), "W8A\(bits)")
    }
  }

  /// Folding into fc1 / fc2 gives the same function as keeping `pre_quant_scale`s, and the
  /// smoothed, folded model restores bit for bit without the plugin.
  @Test func foldsAndRestores() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, _) = try DigitsAlgorithmBench.data(calibrationRows: 64)
    let config = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(8))
    let folded = try DigitsAlgorithmBench.quantized(fp, config.with(algorithm: .init("smoothquant")), calibration: calibration)
    for i in 1..<3 { #expect((folded.layers[i].quantizer(slot: "input_quantizer") as? TensorQuantizer)?.preQuantScale == nil) }
    #expect((folded.layers[0].quantizer(slot: "input_quantizer") as? TensorQuantizer)?.preQuantScale != nil)
    let url = temporaryFileURL("sq").appendingPathExtension("safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try save(folded, to: url, registry: InTreePlugins.registry)
    let fresh = MLP([64, 256, 256, 10])
    try restore(fresh, from: url, registry: .builtin)
    #expect(DigitsAlgorithmBench.bits(fresh) == DigitsAlgorithmBench.bits(folded))
    let x = calibration.slice(axis: 0, 0..<8)
    #expect(Tensor.withoutGrad { fresh(x) }.scalars == Tensor.withoutGrad { folded(x) }.scalars)
  }

  /// ModelOpt's invariants after smoothing, layer by layer (each layer its own factors): the
  /// factors follow from the full-precision input maxima and the weight's column maxima, the
  /// weight is the original one with column `c` divided by factor `c`, the weight ranges are
  /// calibrated on that scaled weight (per output row) and the input ranges on the smoothed
  /// inputs `x ⊙ factors` of the calibration data (per tensor) — not on the raw inputs.
  @Test func rangesAreCalibratedOnTheSmoothedTensors() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, _) = try DigitsAlgorithmBench.data(calibrationRows: 64)
    let config = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(8))
    let sq = try DigitsAlgorithmBench.quantized(
      fp, config.with(algorithm: .init("smoothquant", options: .object(["fold": .bool(false)]))), calibration: calibration)
    var h = calibration
    for (i, layer) in fp.layers.enumerated() {
      let width = layer.inFeatures
      var act = [Float](repeating: 0, count: width)
      for (j, v) in h.scalars.enumerated() { act[j % width] = max(act[j % width], abs(v)) }
      let factors = SmoothQuant.preQuantScale(act: act, weight: SmoothQuant.columnMaxima([layer.weight]), alpha: 0.5)
      let iq = try #require(sq.layers[i].quantizer(slot: "input_quantizer") as? TensorQuantizer)
      let wq = try #require(sq.layers[i].quantizer(slot: "weight_quantizer") as? TensorQuantizer)
      #expect(iq.preQuantScale?.scalars == factors, "fc\(i + 1): factors from the FP input maxima")
      let w = sq.layers[i].weight.scalars, w0 = layer.weight.scalars
      #expect(w.indices.allSatisfy { abs(w[$0] - w0[$0] / factors[$0 % width]) <= 1e-6 * abs(w0[$0] / factors[$0 % width]) },
              "fc\(i + 1): weight columns scaled by 1/factor")
      let rowMax = (0..<layer.outFeatures).map { r in w[(r * width)..<((r + 1) * width)].map(abs).max()! }
      #expect(wq.amax?.scalars == rowMax, "fc\(i + 1): weight ranges from the scaled weight")
      let smoothedMax = h.scalars.enumerated().map { abs($0.element * factors[$0.offset % width]) }.max()!
      // (Our own forward of the layers may differ from the model's in the last bit.)
      let inputRange = try #require(iq.amax?.scalars.first)
      #expect(abs(inputRange - smoothedMax) <= 1e-6 * smoothedMax, "fc\(i + 1): input range \(inputRange) from the smoothed inputs \(smoothedMax)")
      let rawMax = h.scalars.map(abs).max()!
      #expect(abs(inputRange - rawMax) > 1e-3 * rawMax, "fc\(i + 1): the range is not the raw inputs' \(rawMax)")
      let y = Tensor.withoutGrad { layer(h) }
      h = i + 1 < fp.layers.count ? y.relu() : y
    }
  }

  @Test func refusesBadOptions() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, _) = try DigitsAlgorithmBench.data(calibrationRows: 32)
    let m = try DigitsAlgorithmBench.copy(fp)
    let config = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(8))
    for (options, key) in [(JSONValue.object(["alpha": .number(1.5)]), "algorithm.alpha"), (.object(["alphas": .array([])]), "algorithm.alphas"), (.object(["alfa": .number(0.5)]), "algorithm.alfa")] {
      do {
        try convert(m, modes: [.quantize(config.with(algorithm: .init("smoothquant", options: options)))], registry: InTreePlugins.registry,
                    forwardLoop: DigitsAlgorithmBench.loop(calibration))
        Issue.record("\(options.text) accepted")
      } catch {
        #expect("\(error)".contains(key), "\(error)")
      }
    }
    #expect(m.modeHistory.isEmpty)
  }
}

/// SmoothQuant through the contributor kit's calibration-algorithm suite (fixed α and α search).
@Suite struct SmoothQuantConformanceTests {
  @Test func conforms() {
    for options in [JSONValue.object([:]), .object(["alphas": .array([.number(0.3), .number(0.7)]), "fold": .bool(false)])] {
      let report = CalibrationAlgorithmConformance(
        plugin: SmoothQuantPlugin.self, algorithm: "smoothquant", options: options,
        configs: [.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(8))]
      ).run()
      #expect(report.passed, "\(report)")
    }
  }
}
