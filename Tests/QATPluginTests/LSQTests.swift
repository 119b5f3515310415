import Foundation
import QATKit
@testable import QATPluginLSQ
import QATPluginTesting
import QATPlugins
import QATRegistry
import Testing

@Suite struct LSQTests {
  struct Golden: Decodable {
    struct T: Decodable { let shape: [Int]; let data: [Double] }
    let input: T, grad_output: T, grad_input: T, output: T
    let scale: Double, grad_scale: Double
  }

  /// PyTorch's learnable fake-quant op (int4, scale 0.05): outputs, input gradient and scale
  /// gradient match (gradient scaling off, as torch's grad_factor = 1).
  @Test func matchesTorchLearnableFakeQuant() throws {
    let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("torch_lsq_learnable_per_tensor_int4.json")
    let g = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    let attrs = QuantizerAttributes(format: .int4, algorithm: "lsq", algorithmOptions: .object(["gradScale": .bool(false)]))
    let q = try LSQQuantizer(attributes: attrs)
    try q.allocateState(shapes: ["_amax": [1]])
    let amax = try #require(q.amax)
    try amax.assign(values: [Float(g.scale) * 7])
    let x = try Tensor(g.input.data.map { Float($0) }, shape: g.input.shape, requiresGrad: true)
    let y = q(x)
    for (a, b) in zip(y.scalars, g.output.data) { #expect(abs(a - Float(b)) <= 1e-6) }
    y.backward(try Tensor(g.grad_output.data.map { Float($0) }, shape: g.grad_output.shape))
    #expect(x.grad!.scalars == g.grad_input.data.map { Float($0) })
    // d/d amax = d/d s / maxBound.
    let gradScale = amax.grad!.scalars[0] * 7
    #expect(abs(gradScale - Float(g.grad_scale)) <= 1e-3 * abs(Float(g.grad_scale)))
  }

  @Test func perChannelRangesLearnThroughQuantizeMode() throws {
    let registry = InTreePlugins.registry
    let m = MLP([8, 16, 4], seed: 3)
    var rng = RandomGenerator(seed: 9)
    let x = Tensor.randn([32, 8], using: &rng)
    var w = QuantizerAttributes.int(3, axis: 0)
    w.algorithm = "lsq"
    let config = QuantizeConfig.weightsAndActivations(weights: w, activations: nil)
    try convert(m, modes: [.quantize(config)], registry: registry, forwardLoop: { _ = $0(x) })
    let params = m.namedParameters().filter { $0.0.hasSuffix("weight_quantizer._amax") }
    #expect(params.map(\.0) == ["fc1.weight_quantizer._amax", "fc2.weight_quantizer._amax"])
    #expect(params[0].1.shape == [16])
    let before = params[0].1.scalars
    let opt = Adam(m.parameters(), learningRate: 1e-2)
    let y = Array(repeating: 1, count: 32)
    for _ in 0..<3 {
      opt.zeroGrad()
      let l = Loss.crossEntropy(m(x), y)
      l.backward()
      opt.step()
    }
    #expect(params[0].1.scalars != before, "the optimizer did not update the learned ranges")
    // Save → restore gives identical outputs.
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lsq-\(UUID().uuidString).safetensors")
    try save(m, to: url, registry: registry)
    let fresh = MLP([8, 16, 4], seed: 99)
    try restore(fresh, from: url, registry: registry)
    #expect(Tensor.withoutGrad { fresh(x).scalars == m(x).scalars })
    #expect { try restore(MLP([8, 16, 4]), from: url, registry: .builtin) } throws: { e in
      if case RegistryError.missingPlugin(let kind, let name, let plugin) = e {
        return kind == .quantizer && name == "lsq" && plugin == "LSQ"
          && "\(e)".contains("needs the quantizer 'lsq' from plugin 'LSQ'") && "\(e)".contains("LSQPlugin.self")
      }
      return false
    }
  }

  @Test func disabledQuantizerSavesAndRestoresWithoutState() throws {
    let registry = InTreePlugins.registry
    let m = MLP([8, 16, 4], seed: 3)
    var rng = RandomGenerator(seed: 10)
    let x = Tensor.randn([8, 8], using: &rng)
    var w = QuantizerAttributes.int(4, axis: 0)
    w.algorithm = "lsq"
    // fc1's quantizer is configured, then switched off: never calibrated, no `_amax`.
    let config = QuantizeConfig.weightsAndActivations(weights: w, activations: nil).setting("fc1.*", enabled: false)
    try convert(m, modes: [.quantize(config)], registry: registry, forwardLoop: { _ = $0(x) })
    #expect(m.namedParameters().map(\.0).filter { $0.contains("quantizer") } == ["fc2.weight_quantizer._amax"])
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lsq-off-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try save(m, to: url, registry: registry)
    let fresh = try restore(MLP([8, 16, 4], seed: 99), from: url, registry: registry)
    #expect(fresh.namedQuantizers().map(\.0) == ["fc1.weight_quantizer", "fc2.weight_quantizer"])
    #expect(Tensor.withoutGrad { fresh(x).scalars == m(x).scalars })
  }

  @Test(arguments: [
    (QuantGranularity.perTensor, [5, 37]), (.perChannel(axis: 0), [6, 40]), (.perChannel(axis: 1), [3, 4, 10]),
    (.perBlock(size: 16), [4, 48]),
  ])
  func kernelMatchesPerElementLoop(granularity: QuantGranularity, shape: [Int]) {
    let layout = GroupLayout(granularity, shape: shape)
    var rng = RandomGenerator(seed: 21)
    let x = Tensor.randn(shape, std: 2, using: &rng)
    let g = Tensor.randn(shape, using: &rng)
    let amaxValues = (0..<layout.groupCount).map { Float(1 + $0 % 3) }
    x.requiresGrad = true
    let amax = Tensor(amaxValues, requiresGrad: true)
    let y = LSQKernel.forward(x, amax: amax, layout: layout, minBound: -8, maxBound: 7, gradScale: false)
    y.backward(g)
    let ref = LSQKernel.reference(x.scalars, g: g.scalars, amax: amaxValues, layout: layout, minBound: -8, maxBound: 7)
    #expect(y.scalars == ref.y)
    #expect(x.grad!.scalars == ref.gx)
    #expect(amax.grad!.scalars == ref.ga.map { $0 * (Float(1) / 7) })
  }

  @Test func rejectsFloatFormats() {
    #expect(throws: (any Error).self) { try LSQQuantizer(attributes: QuantizerAttributes(format: .e4m3, algorithm: "lsq")) }
  }
}

/// LSQ through the contributor kit's conformance suite.
@Suite struct LSQConformanceTests {
  /// LSQ's straight-through surrogate: `y = round(clamp(x / s, lo, hi)) · s` per group,
  /// `s = amax / hi`, with the gradient to `amax` scaled by `1 / √(n_group · hi)` (detached
  /// correction) when `gradScale` is on.
  static func surrogate(gradScale: Bool) -> STESurrogate {
    STESurrogate { input, frozen in
      guard case .int(let bits, let signed) = input.attributes.format else { return [] }
      let hi = Double((1 << (bits - (signed ? 1 : 0))) - 1)
      let lo = signed ? (input.attributes.narrowRange ? -hi : -hi - 1) : 0
      let layout = input.layout
      let perGroup = Double(input.x.count / layout.groupCount)
      let g = gradScale ? 1 / (perGroup * hi).squareRoot() : 1
      let steps = input.state["_amax"]!.map { a in
        (frozen.detach(a) + (a - frozen.detach(a)) * g) / hi
      }
      var groups = layout.groups.makeIterator()
      return input.x.map { x in
        let s = steps[groups.next()!]
        return frozen.round(frozen.clamp(x / s, lo, hi)) * s
      }
    }
  }

  @Test func conformsWithGradientScale() {
    let report = QuantizerConformance(
      plugin: LSQPlugin.self, algorithm: "lsq",
      cases: [.weight(.int(4, axis: 0)), .weight(.int(3, blockSize: 4)), .activation(.int(4, calibrator: "mse")),
              .activation(.int(8, signed: false))],
      unsupported: [QuantizerAttributes(format: .e4m3), QuantizerAttributes(format: .nvfp4)],
      surrogate: Self.surrogate(gradScale: true)
    ).run()
    #expect(report.passed, "\(report)")
  }

  @Test func conformsWithoutGradientScale() {
    var a = QuantizerAttributes.int(4)
    a.algorithmOptions = .object(["gradScale": .bool(false)])
    let report = QuantizerConformance(
      plugin: LSQPlugin.self, algorithm: "lsq", cases: [.weight(a)], surrogate: Self.surrogate(gradScale: false)
    ).run()
    #expect(report.passed, "\(report)")
  }
}
