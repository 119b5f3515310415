import Foundation
import QATKit
import QATPluginLSQPlus
import QATPluginTesting
import QATPlugins
import QATRegistry
import Testing

@testable import QATPluginLSQPlus

/// LSQ+: learned scale and offset (Bhalgat et al., CVPR Workshops 2020).
@Suite struct LSQPlusTests {
  /// The integer grid `[n, p]` of `attributes`.
  static func grid(_ a: QuantizerAttributes) -> (Double, Double) {
    guard case .int(let bits, let signed) = a.format else { return (0, 0) }
    if !signed { return (0, Double((1 << bits) - 1)) }
    let p = Double((1 << (bits - 1)) - 1)
    return (a.narrowRange ? -p : -p - 1, p)
  }

  /// LSQ+'s straight-through surrogate: `x̂ = round(clamp((x − β)/s, n, p))·s + β` per group,
  /// rounding straight-through; `s` and `β` enter through `detach(v) + (v − detach(v))·g` so
  /// their gradients carry LSQ's scale `g = 1/√(N_group·p)` when `gradScale` is on.
  static let surrogate = STESurrogate { input, frozen in
    let (n, p) = grid(input.attributes)
    var gradScale = true
    if case .bool(let b)? = input.attributes.algorithmOptions?["gradScale"] { gradScale = b }
    let layout = input.layout
    let g = gradScale ? 1 / (Double(input.x.count / layout.groupCount) * p).squareRoot() : 1
    func scaled(_ v: Double) -> Double { frozen.detach(v) + (v - frozen.detach(v)) * g }
    let s = input.state["_scale"]!.map(scaled), beta = input.state["_offset"]!.map(scaled)
    var groups = layout.groups.makeIterator()
    return input.x.map { x in
      let k = groups.next()!
      return frozen.round(frozen.clamp((x - beta[k]) / s[k], n, p)) * s[k] + beta[k]
    }
  }

  static func quantizer(_ a: QuantizerAttributes, calibrateOn x: Tensor) throws -> LSQPlusQuantizer {
    var attributes = a
    attributes.algorithm = "lsq_plus"
    let q = try LSQPlusQuantizer(attributes: attributes)
    q.beginCalibration(MaxCalibrator())
    _ = q(x)
    try q.endCalibration()
    return q
  }

  @Test func kernelMatchesReference() throws {
    for (shape, granularity) in [([7, 5], QuantGranularity.perTensor), ([4, 6], .perChannel(axis: 1)), ([3, 8], .perBlock(size: 4))] {
      let layout = GroupLayout(granularity, shape: shape)
      let x = GradientCheck.randn(shape, seed: 4) * 2
      let scale = Tensor((0..<layout.groupCount).map { 0.2 + Float($0) * 0.03 })
      let offset = Tensor((0..<layout.groupCount).map { -0.5 + Float($0) * 0.1 })
      let y = LSQPlusKernel.forward(x, scale: scale, offset: offset, layout: layout, lower: 0, upper: 7, gradScale: 1)
      #expect(y.scalars == LSQPlusKernel.reference(x.scalars, layout: layout, scale: scale.scalars, offset: offset.scalars, lower: 0, upper: 7))
    }
  }

  /// The paper's min-max start: `s = (max − min)/(p − n)`, `β = min − n·s`.
  @Test func initializesFromTheObservedRange() throws {
    let q = try Self.quantizer(.int(3, signed: false), calibrateOn: try Tensor([-0.7, 0.1, 2.1, 0.4], shape: [4]))
    #expect(isClose(q.scale!.scalars[0], 2.8 / 7))
    #expect(isClose(q.offset!.scalars[0], -0.7))
    let signed = try Self.quantizer(.int(4), calibrateOn: try Tensor([-1, 0, 2], shape: [3]))
    #expect(isClose(signed.scale!.scalars[0], 3.0 / 15))
    #expect(isClose(signed.offset!.scalars[0], -1 + 8 * 3.0 / 15))
  }

  /// Finite-difference checks of the gradients to x, s and β against the surrogate, per tensor
  /// and per channel, with and without gradient scaling, on inputs that reach both clip ends.
  @Test(arguments: [false, true])
  func gradientsMatchFiniteDifferences(gradScale: Bool) throws {
    for a in [QuantizerAttributes.int(3, signed: false), .int(4, signed: false, axis: 1), .int(4)] {
      var attrs = a
      attrs.algorithmOptions = .object(["gradScale": .bool(gradScale)])
      let q = try Self.quantizer(attrs, calibrateOn: GradientCheck.randn([6, 5], seed: 1))
      let report = GradientCheck.straightThrough(q, input: GradientCheck.randn([6, 5], seed: 2) * 1.5, surrogate: Self.surrogate)
      #expect(report.passed, "\(a.format) \(a.granularity): \(report)")
      #expect(report.gradients.checked == 30 + 2 * q.scale!.count)
    }
  }

  @Test func conforms() {
    let report = QuantizerConformance(
      plugin: LSQPlusPlugin.self, algorithm: "lsq_plus",
      cases: [.activation(.int(4, signed: false)), .activation(.int(3)), .weight(.int(4, axis: 0)), .weight(.int(2, signed: false, blockSize: 4))],
      unsupported: [QuantizerAttributes(format: .e4m3), QuantizerAttributes(format: .mxfp4)],
      surrogate: Self.surrogate
    ).run()
    #expect(report.passed, "\(report)")
  }

  /// The paper's claim, on an asymmetric input: the digits features are standardized pixel
  /// counts, mostly slightly negative with a long positive tail. Quantizing the first layer's
  /// input to 3 bits (per tensor, nothing else quantized) and fine-tuning 3 epochs, LSQ+'s
  /// learned offset beats LSQ's symmetric signed grid by a wide margin and LSQ's unsigned grid
  /// (which clips every negative value to 0).
  @Test func learnedOffsetBeatsLSQOnAsymmetricInputs() throws {
    let (train, test) = try Digits.load()
    let fp = MLP([64, 32, 10], seed: 0)
    try Training.fit(fp, data: train, epochs: 5, batchSize: 64, optimizer: Adam(fp.parameters(), learningRate: 3e-3), seed: 0) {
      Loss.crossEntropy(fp($0), $1)
    }
    var accuracy: [String: Float] = [:]
    for (name, algorithm, signed, calibrator) in [("lsq signed", "lsq", true, "mse"), ("lsq unsigned", "lsq", false, "mse"), ("lsq_plus", "lsq_plus", false, "max")] {
      let m = MLP([64, 32, 10], seed: 0)
      try m.loadStateDict(Dictionary(uniqueKeysWithValues: fp.stateDict().map { ($0.0, $0.1.copy()) }))
      var a = QuantizerAttributes.int(3, signed: signed, calibrator: calibrator)
      a.algorithm = algorithm
      try convert(m, modes: [.quantize(QuantizeConfig([.init("fc1.input_quantizer", cfg: a)]))], registry: InTreePlugins.registry,
                  forwardLoop: { m in for b in try train.batches(size: 256) { _ = m(b.inputs) } })
      try Training.fit(m, data: train, epochs: 3, batchSize: 64, optimizer: Adam(m.parameters(), learningRate: 1e-3), seed: 0) {
        Loss.crossEntropy(m($0), $1)
      }
      accuracy[name] = try Training.accuracy(m, on: test)
    }
    let fp32Accuracy = try Training.accuracy(fp, on: test)
    print("LSQ+ claim (digits, 3-bit first-layer input): \(accuracy.sorted { $0.key < $1.key }), FP32 \(fp32Accuracy)")
    #expect(accuracy["lsq_plus"]! >= accuracy["lsq signed"]! + 0.15, "\(accuracy)")
    #expect(accuracy["lsq_plus"]! >= accuracy["lsq unsigned"]! + 0.02, "\(accuracy)")
  }
}
