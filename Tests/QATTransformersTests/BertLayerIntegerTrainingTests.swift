import QATPluginTesting
import Testing

@testable import QATKit
import QATTransformers

/// A BERT layer quantized with the `int8` recipe (`INT8_DEFAULT_CFG`) trains with integer forward
/// GEMMs in all six Linears: its output and every parameter's gradient agree with the float
/// fake-quantized reference path (`Linear.ForwardPath.float`) within float rounding.
@Suite("BERT layer: integer forward GEMMs in a QAT step")
struct BertLayerIntegerTrainingTests {
  static func quantizedLayer() throws -> BertLayer {
    let config = try BertConfig(
      vocabSize: 11, hiddenSize: 32, numHiddenLayers: 1, numAttentionHeads: 4, intermediateSize: 64,
      maxPositionEmbeddings: 16, typeVocabSize: 2, layerNormEps: 1e-12, hiddenDropoutProb: 0,
      attentionProbsDropoutProb: 0)
    let layer = BertLayer(config: config, initialization: .random(seed: 1))
    var rng = RandomGenerator(seed: 2)
    for p in layer.parameters() where p.rank == 2 {
      try p.assign(Tensor.randn(p.shape, std: 0.2, using: &rng))
    }
    let calibration = (0..<2).map { _ in Tensor.randn([2, 8, 32], using: &rng) }
    let context = ModeContext(forwardLoop: { m in Tensor.withoutGrad { for c in calibration { _ = m(c) } } })
    _ = try QuantizeMode.convert(layer, config: BertQuantization.config(.int8), context: context)
    layer.train()
    return layer
  }

  static func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var ab = 0.0, aa = 0.0, bb = 0.0
    for (x, y) in zip(a, b) {
      ab += Double(x) * Double(y)
      aa += Double(x) * Double(x)
      bb += Double(y) * Double(y)
    }
    return ab / (aa * bb).squareRoot()
  }

  @Test("query, key and value share one input quantization: the same outputs and gradients as one by one")
  func sharedInput() throws {
    let layer = try Self.quantizedLayer()
    let attention = layer.attention.selfAttention
    let projections = [attention.query, attention.key, attention.value]
    var rng = RandomGenerator(seed: 5)
    let x0 = Tensor.randn([2, 8, 32], using: &rng)
    let r = (0..<3).map { _ in Tensor.randn([2, 8, 32], using: &rng) }
    for isa in Int8InstructionSet.allCases where isa.isSupported {
      func run(_ shared: Bool) throws -> (y: [[Float]], grads: [[Float]], hooked: Int) {
        let x = x0.detach()
        x.requiresGrad = true
        for p in layer.parameters() { p.zeroGrad() }
        var hooked = 0
        let token = attention.key.addOutputHook { _ in hooked += 1 }
        defer { attention.key.removeOutputHook(token) }
        let ys = try Linear.withForwardPath(.integer(isa)) {
          shared ? try #require(Linear.integerForward(sharingInput: projections, x)) : projections.map { $0(x) }
        }
        zip(ys, r).map { ($0 * $1).sum() }.reduce(Tensor(scalar: 0), +).backward()
        let grads = [x.grad?.scalars ?? []] + projections.flatMap { [$0.weight.grad?.scalars ?? [], $0.bias?.grad?.scalars ?? []] }
        return (ys.map(\.scalars), grads, hooked)
      }
      let shared = try run(true), separate = try run(false)
      #expect(shared.y == separate.y, "\(isa)")
      #expect(shared.hooked == 1 && separate.hooked == 1)
      #expect(shared.grads.allSatisfy { !$0.isEmpty })
      for (a, b) in zip(shared.grads, separate.grads) {
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "\(isa)")
      }
    }
  }

  @Test("output and every gradient match the float path; all six Linears take the integer path")
  func matchesFloatPath() throws {
    let layer = try Self.quantizedLayer()
    var rng = RandomGenerator(seed: 3)
    let x = Tensor.randn([2, 8, 32], using: &rng)
    let r = Tensor.randn([2, 8, 32], using: &rng)
    let linears = layer.namedModules().compactMap { $0.1 as? Linear }
    #expect(linears.count == 6)

    func step(_ path: Linear.ForwardPath) -> (y: [Float], grads: [[Float]]) {
      for p in layer.parameters() { p.zeroGrad() }
      let y = Linear.withForwardPath(path) { layer(x) }
      (y * r).sum().backward()
      return (y.scalars, layer.parameters().map { $0.grad?.scalars ?? [] })
    }
    let reference = step(.float)
    for isa in Int8InstructionSet.allCases where isa.isSupported {
      // Every Linear's quantizers qualify: the integer product runs (not a silent fallback).
      let taken = Linear.withForwardPath(.integer(isa)) {
        linears.allSatisfy { l in l.integerForward(GradientCheck.randn([3, l.inFeatures], seed: 4)) != nil }
      }
      #expect(taken, "\(isa)")
      let fast = step(.integer(isa))
      #expect(Self.cosine(fast.y, reference.y) > 0.99999, "\(isa) output")
      let worst = zip(fast.y, reference.y).map { abs($0 - $1) }.max() ?? 0
      #expect(worst < 1e-3, "\(isa) output differs by \(worst)")
      #expect(fast.grads.count == reference.grads.count)
      // `key.bias` gets no gradient in exact arithmetic (softmax ignores a constant per row), only
      // rounding noise: gradients are compared on the scale of the largest one, and by direction
      // where they are not noise.
      let scale = reference.grads.joined().map(abs).max() ?? 0
      #expect(scale > 0)
      for (i, (g, gr)) in zip(fast.grads, reference.grads).enumerated() {
        #expect(g.count == gr.count && !g.isEmpty, "\(isa) parameter \(i)")
        let diff = zip(g, gr).map { abs($0 - $1) }.max() ?? 0
        #expect(diff <= 1e-3 * scale, "\(isa) gradient of parameter \(i) differs by \(diff) (largest gradient \(scale))")
        if (gr.map(abs).max() ?? 0) > 1e-3 * scale {
          #expect(Self.cosine(g, gr) > 0.9999, "\(isa) gradient of parameter \(i): cosine \(Self.cosine(g, gr))")
        }
      }
    }
  }
}
