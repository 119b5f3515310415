import Foundation
import QATKit
import QATPluginTesting
import QATPlugins
import QATRegistry
import QATTestSupport
import Testing

@testable import QATPluginGPTQ

/// GPTQ (Frantar et al., ICLR 2023).
@Suite struct GPTQTests {
  /// A small layer with correlated inputs (a random mix of a few latent factors plus noise), its
  /// Hessian `XᵀX`, and a calibrated INT quantizer.
  static func problem(rows: Int, cols: Int, samples: Int, attributes: QuantizerAttributes, seed: UInt64)
    throws -> (w: Tensor, x: Tensor, h: SquareMatrix, q: TensorQuantizer)
  {
    let latent = GradientCheck.randn([samples, 4], seed: seed)
    let mix = GradientCheck.randn([4, cols], seed: seed + 1)
    let x = latent.matmul(mix) + GradientCheck.randn([samples, cols], seed: seed + 2) * 0.3
    let w = GradientCheck.randn([rows, cols], seed: seed + 3)
    let xt = x.transposed()
    let h = SquareMatrix(n: cols, values: Tensor.matmul(xt, transposed: xt).scalars.map(Double.init))
    let q = try TensorQuantizer(attributes: attributes)
    q.beginCalibration(MaxCalibrator())
    _ = q(w)
    try q.endCalibration()
    return (w, x, h, q)
  }

  /// `U` is the upper Cholesky factor of `H⁻¹`: `Uᵀ·U·H = I`.
  @Test func upperCholeskyOfTheInverse() throws {
    let p = try Self.problem(rows: 3, cols: 12, samples: 40, attributes: .int(4, axis: 0), seed: 1)
    var h = p.h
    for i in 0..<12 { h[i, i] += 0.1 }
    let u = try #require(h.upperCholeskyOfInverse())
    for i in 0..<12 { for j in 0..<i { #expect(u[i, j] == 0) } }
    for i in 0..<12 {
      for j in 0..<12 {
        var s = 0.0
        for k in 0..<12 {
          var uu = 0.0
          for m in 0..<12 { uu += u[m, i] * u[m, k] }
          s += uu * h[k, j]
        }
        #expect(abs(s - (i == j ? 1 : 0)) < 1e-8, "(\(i), \(j)): \(s)")
      }
    }
    var singular = SquareMatrix(zeros: 2)
    singular[0, 0] = 1
    #expect(singular.cholesky() == nil)
  }

  /// The blocked (lazy-batch) update agrees with the plain column loop: the same rounded weight
  /// except where float order moves a value across a rounding tie, and the same output error.
  @Test(arguments: [false, true])
  func blockedMatchesReference(actOrder: Bool) throws {
    for (attributes, block) in [(QuantizerAttributes.int(4, axis: 0), 5), (.int(3, blockSize: 8), 8), (.int(4, blockSize: 8), 3)] {
      let p = try Self.problem(rows: 6, cols: 24, samples: 64, attributes: attributes, seed: 7)
      var w = p.w.scalars
      let prepared = GPTQSolver.prepare(hessian: p.h, weight: &w, rows: 6, cols: 24, percDamp: 0.01, actOrder: actOrder)
      let grid = try ColumnGrid(p.q, shape: [6, 24])
      let fast = try GPTQSolver.blocked(w, rows: 6, cols: 24, u: prepared.u, blockSize: block, grid: grid, order: prepared.order)
      let slow = GPTQSolver.reference(w, rows: 6, cols: 24, u: prepared.u, grid: grid, order: prepared.order)
      let same = zip(fast, slow).filter { $0 == $1 }.count
      #expect(same >= 140, "\(attributes.granularity) act order \(actOrder): \(same) of 144 equal")
      let ef = try GPTQSolver.outputError(p.w.scalars, fast, rows: 6, cols: 24, hessian: p.h)
      let es = try GPTQSolver.outputError(p.w.scalars, slow, rows: 6, cols: 24, hessian: p.h)
      #expect(abs(ef - es) <= 0.02 * es, "\(ef) vs \(es)")
      // Every value lies on the quantizer's grid: the quantizer reproduces it bit for bit.
      let again = CalibrationSession.fakeQuantize(try Tensor(fast, shape: [6, 24]), with: p.q).scalars
      #expect(again.map(\.bitPattern) == fast.map(\.bitPattern))
    }
  }

  /// GPTQ's claim on a small layer: its output error on the calibration inputs is below plain
  /// rounding's (INT3 per channel and INT4 blocks, with and without act order).
  @Test func outputErrorBelowRoundToNearest() throws {
    for attributes in [QuantizerAttributes.int(3, axis: 0), .int(4, blockSize: 8)] {
      for actOrder in [false, true] {
        let p = try Self.problem(rows: 16, cols: 32, samples: 256, attributes: attributes, seed: 11)
        var w = p.w.scalars
        let prepared = GPTQSolver.prepare(hessian: p.h, weight: &w, rows: 16, cols: 32, percDamp: 0.01, actOrder: actOrder)
        let grid = try ColumnGrid(p.q, shape: [16, 32])
        let gptq = try GPTQSolver.blocked(w, rows: 16, cols: 32, u: prepared.u, blockSize: 8, grid: grid, order: prepared.order)
        let rtn = CalibrationSession.fakeQuantize(p.w, with: p.q).scalars
        // The error measured directly on the inputs.
        func error(_ v: [Float]) throws -> Double {
          let d = Tensor.matmul(p.x, transposed: try Tensor(zip(p.w.scalars, v).map { $0 - $1 }, shape: [16, 32]))
          return d.scalars.reduce(0.0) { $0 + Double($1 * $1) }
        }
        let (eG, eR) = (try error(gptq), try error(rtn))
        print("GPTQ small layer \(attributes.format) \(attributes.granularity) act order \(actOrder): output error \(eG) vs round-to-nearest \(eR)")
        #expect(eG < 0.8 * eR)
      }
    }
  }

  /// On the digits MLP (INT3 per output channel, and INT4 in blocks of 32): each layer's output
  /// error against max calibration's with plain rounding; weights stay on the quantizer's grid;
  /// the checkpoint restores bit for bit without the plugin.
  @Test func reducesLayerOutputErrorAgainstMaxOnDigits() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, test) = try DigitsAlgorithmBench.data()
    for (name, weights, options) in [
      ("int3 per channel", QuantizerAttributes.int(3, axis: 0), JSONValue.object([:])),
      ("int4 blocks of 32, act order, sequential", .int(4, blockSize: 32), .object(["actOrder": .bool(true), "sequential": .bool(true), "blockSize": .number(16)])),
    ] {
      let config = QuantizeConfig.weightsAndActivations(weights: weights, activations: nil)
      let plain = try DigitsAlgorithmBench.quantized(fp, config, calibration: calibration)
      let gptq = try DigitsAlgorithmBench.quantized(fp, config.with(algorithm: .init("gptq", options: options)), calibration: calibration)
      let eMax = DigitsAlgorithmBench.layerErrors(fp: fp, quantized: plain, on: calibration)
      let eG = DigitsAlgorithmBench.layerErrors(fp: fp, quantized: gptq, on: calibration)
      print("GPTQ digits \(name): layer errors max \(eMax), gptq \(eG); test accuracy FP32 \(try Training.accuracy(fp, on: test)), max \(try Training.accuracy(plain, on: test)), gptq \(try Training.accuracy(gptq, on: test))")
      for i in 0..<3 { #expect(eG[i] < eMax[i], "\(name) layer \(i + 1)") }
      for layer in gptq.layers {
        let wq = try #require(layer.quantizer(slot: "weight_quantizer"))
        #expect(Tensor.withoutGrad { wq(layer.weight) }.scalars.map(\.bitPattern) == layer.weight.scalars.map(\.bitPattern))
      }
      let url = temporaryFileURL("gptq").appendingPathExtension("safetensors")
      defer { try? FileManager.default.removeItem(at: url) }
      try save(gptq, to: url, registry: InTreePlugins.registry)
      let fresh = MLP([64, 256, 256, 10])
      try restore(fresh, from: url, registry: .builtin)
      #expect(DigitsAlgorithmBench.bits(fresh) == DigitsAlgorithmBench.bits(gptq))
    }
  }

  /// Formats GPTQ cannot round with and bad options are errors naming the key or the layer.
  @Test func refusesWhatItCannotRound() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, _) = try DigitsAlgorithmBench.data(calibrationRows: 32)
    let m = try DigitsAlgorithmBench.copy(fp)
    let before = DigitsAlgorithmBench.bits(m)
    let fp8 = QuantizeConfig.weightsAndActivations(weights: QuantizerAttributes(format: .e4m3), activations: nil).with(algorithm: .init("gptq"))
    do {
      try convert(m, modes: [.quantize(fp8)], registry: InTreePlugins.registry, forwardLoop: DigitsAlgorithmBench.loop(calibration))
      Issue.record("FP8 weights were accepted")
    } catch {
      #expect("\(error)".contains("fc1.weight_quantizer") && "\(error)".contains("integer"), "\(error)")
    }
    let bad = QuantizeConfig.weightsAndActivations(weights: .int(4, axis: 0), activations: nil)
      .with(algorithm: .init("gptq", options: .object(["percDamp": .number(0)])))
    do {
      try convert(m, modes: [.quantize(bad)], registry: InTreePlugins.registry, forwardLoop: DigitsAlgorithmBench.loop(calibration))
      Issue.record("percDamp 0 was accepted")
    } catch {
      #expect("\(error)".contains("algorithm.percDamp"), "\(error)")
    }
    #expect(DigitsAlgorithmBench.bits(m) == before && m.modeHistory.isEmpty)
  }
}

/// GPTQ through the contributor kit's calibration-algorithm suite.
@Suite struct GPTQConformanceTests {
  @Test func conforms() {
    let report = CalibrationAlgorithmConformance(
      plugin: GPTQPlugin.self, algorithm: "gptq", options: .object(["blockSize": .number(4), "actOrder": .bool(true)]),
      configs: [
        .weightsAndActivations(weights: .int(4, blockSize: 8), activations: nil),
        .weightsAndActivations(weights: .int(3, axis: 0), activations: .int(8)),
      ]
    ).run()
    #expect(report.passed, "\(report)")
  }
}
