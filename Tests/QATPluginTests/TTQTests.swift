import Foundation
import QATKit
import QATPluginTesting
import QATPluginTTQ
import QATPlugins
import QATRegistry
import Testing

@testable import QATPluginTTQ

/// TTQ: trained ternary quantization (Zhu et al., ICLR 2017).
@Suite struct TTQTests {
  /// TTQ's straight-through surrogate: the ternary assignment and the latent-weight scale are
  /// frozen, `y = Wp·[pos] − Wn·[neg] + (w − detach(w))·detach(k)` with `k = Wp, 1, Wn` in the
  /// three regions, so `∂y/∂w = k`, `∂y/∂Wp = [pos]`, `∂y/∂Wn = −[neg]`.
  static let surrogate = STESurrogate { input, frozen in
    var t = 0.05
    if case .number(let v)? = input.attributes.algorithmOptions?["threshold"] { t = v }
    let layout = input.layout
    let wp = input.state["_wp"]!, wn = input.state["_wn"]!
    var maxAbs = [Double](repeating: 0, count: layout.groupCount)
    for (i, w) in input.x.enumerated() { maxAbs[layout.group(i)] = max(maxAbs[layout.group(i)], abs(w)) }
    return input.x.enumerated().map { i, w in
      let g = layout.group(i)
      let d = Double(Float(maxAbs[g]) * Float(t))
      let region = frozen.detach(w > d ? 1 : (w < -d ? -1 : 0))
      let k = frozen.detach(region > 0 ? wp[g] : (region < 0 ? wn[g] : 1))
      let value = region > 0 ? wp[g] : (region < 0 ? -wn[g] : 0)
      return value + (w - frozen.detach(w)) * k
    }
  }

  @Test func kernelMatchesReference() throws {
    for (shape, granularity) in [([5, 7], QuantGranularity.perChannel(axis: 0)), ([5, 7], .perChannel(axis: 1)), ([3, 8], .perBlock(size: 4)), ([9], .perTensor)] {
      let layout = GroupLayout(granularity, shape: shape)
      let w = GradientCheck.randn(shape, seed: 3)
      let wp = Tensor((0..<layout.groupCount).map { 0.5 + Float($0) * 0.1 }), wn = Tensor((0..<layout.groupCount).map { 0.7 - Float($0) * 0.05 })
      let y = TTQKernel.forward(w, wp: wp, wn: wn, layout: layout, threshold: 0.3, learnScales: true)
      let expected = TTQKernel.reference(w.scalars, shape: shape, layout: layout, threshold: 0.3, wp: wp.scalars, wn: wn.scalars)
      #expect(y.scalars == expected, "\(granularity)")
    }
  }

  /// The paper's gradients on a hand-checked example: threshold 0.5 · max|w| = 1.
  @Test func gradientsFollowThePaper() throws {
    var a = QuantizerAttributes.int(2)
    a.algorithm = "ttq"
    a.algorithmOptions = .object(["threshold": .number(0.5)])
    let q = try TTQQuantizer(attributes: a)
    try q.allocateState(shapes: ["_wp": [1], "_wn": [1]])
    let wp = try #require(q.wp), wn = try #require(q.wn)
    try wp.assign(values: [0.8])
    try wn.assign(values: [1.2])
    let w = try Tensor([2, 1.5, 0.5, -0.9, -1.2, -2], shape: [6], requiresGrad: true)
    let y = q(w)
    #expect(y.scalars == [0.8, 0.8, 0, 0, -1.2, -1.2])
    y.backward(try Tensor([1, 2, 3, 4, 5, 6], shape: [6]))
    let wpValue: Float = 0.8, wnValue: Float = 1.2
    #expect(w.grad!.scalars == [1 * wpValue, 2 * wpValue, 3, 4, 5 * wnValue, 6 * wnValue])  // Wp·g, g, Wn·g
    #expect(wp.grad!.scalars == [3])  // Σ g over the positive region
    #expect(wn.grad!.scalars == [-11])  // −Σ g over the negative region
  }

  @Test func conforms() {
    var t2 = QuantizerAttributes.int(2, axis: 0)
    t2.algorithmOptions = .object(["threshold": .number(0.2)])
    var fixed = QuantizerAttributes.int(2)
    fixed.algorithmOptions = .object(["learnScales": .bool(false)])
    let report = QuantizerConformance(
      plugin: TTQPlugin.self, algorithm: "ttq",
      cases: [.weight(.int(2)), .weight(t2), .weight(.int(2, blockSize: 4)), .weight(fixed), .activation(.int(2))],
      unsupported: [.int(4), .int(2, signed: false), QuantizerAttributes(format: .e4m3), QuantizerAttributes(format: .nvfp4)],
      surrogate: Self.surrogate
    ).run()
    #expect(report.passed, "\(report)")
  }

  @Test func badOptionsNameTheirPath() throws {
    var a = QuantizerAttributes.int(2, axis: 0)
    a.algorithm = "ttq"
    a.algorithmOptions = .object(["threshold": .number(1.5)])
    #expect {
      try convert(MLP([4, 3]), modes: [.quantize(.weightsAndActivations(weights: a, activations: nil))], registry: InTreePlugins.registry)
    } throws: { "\($0)".contains("fc1.weight_quantizer.algorithmOptions.threshold") && "\($0)".contains("(0, 1)") }
    a.algorithmOptions = .object(["treshold": .number(0.1)])
    #expect {
      try convert(MLP([4, 3]), modes: [.quantize(.weightsAndActivations(weights: a, activations: nil))], registry: InTreePlugins.registry)
    } throws: { "\($0)".contains("fc1.weight_quantizer.algorithmOptions.treshold") && "\($0)".contains("did you mean 'threshold'") }
  }

  /// The paper's claim, on the digits MLP 64-32-10: ternary weights with learned scales beat
  /// the same ternary assignment with fixed least-squares scales (the TWN baseline the paper
  /// compares against) and land close to full precision. Seeded; threshold 0.2, per tensor
  /// (the paper's per-layer scales), 5 epochs of QAT from the trained FP32 weights.
  @Test func learnedScalesBeatFixedScales() throws {
    let (train, test) = try Digits.load()
    var learned: [Float] = [], fixed: [Float] = [], full: [Float] = []
    for seed: UInt64 in [0, 1] {
      let fp = MLP([64, 32, 10], seed: seed)
      try Training.fit(fp, data: train, epochs: 5, batchSize: 64, optimizer: Adam(fp.parameters(), learningRate: 3e-3), seed: seed) {
        Loss.crossEntropy(fp($0), $1)
      }
      full.append(try Training.accuracy(fp, on: test))
      for learn in [true, false] {
        let m = MLP([64, 32, 10], seed: seed)
        try m.loadStateDict(Dictionary(uniqueKeysWithValues: fp.stateDict().map { ($0.0, $0.1.copy()) }))
        var w = QuantizerAttributes.int(2)
        w.algorithm = "ttq"
        w.algorithmOptions = .object(["threshold": .number(0.2), "learnScales": .bool(learn)])
        try convert(m, modes: [.quantize(.weightsAndActivations(weights: w, activations: nil))], registry: InTreePlugins.registry)
        try Training.fit(m, data: train, epochs: 5, batchSize: 64, optimizer: Adam(m.parameters(), learningRate: 1e-3), seed: seed) {
          Loss.crossEntropy(m($0), $1)
        }
        let accuracy = try Training.accuracy(m, on: test)
        if learn { learned.append(accuracy) } else { fixed.append(accuracy) }
      }
    }
    let summary = "learned \(learned), fixed \(fixed), FP32 \(full)"
    print("TTQ claim (digits 64-32-10, ternary weights): \(summary)")
    for i in learned.indices {
      #expect(learned[i] >= fixed[i], "\(summary)")
      #expect(learned[i] >= full[i] - 0.02, "\(summary)")
    }
    #expect(learned.reduce(0, +) - fixed.reduce(0, +) >= 0.016, "\(summary)")
  }
}
