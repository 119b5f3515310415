import Foundation
import Testing
@testable import QATKit

/// Issue 10, defect 2: activation and output quantizer configs whose shapes do not fit used to
/// convert and then trap in `model(x)` or inside calibration. Now `convert` rejects them (from
/// what the layer fixes, or from the shapes the forward loop shows) and leaves the model as it
/// was, and ``Module/checkedForward(_:)`` throws where `model(x)` would trap.
@Suite struct ActivationShapeTests {
  static let sizes = [64, 32, 32, 10]

  private func data(rows: Int = 6, cols: Int = 64, count: Int = 2) -> [Tensor] {
    var rng = RandomGenerator(seed: 4)
    return (0..<count).map { _ in Tensor.randn([rows, cols], using: &rng) }
  }

  private func config(_ json: String) throws -> QuantizeConfig { try QuantizeConfig(jsonText: json) }

  private func rule(_ pattern: String, _ cfg: String) throws -> QuantizeConfig {
    try config(#"{"quantCfg": [{"quantizerName": "\#(pattern)", "cfg": \#(cfg)}]}"#)
  }

  /// `convert` with a forward loop over `batches` throws an error mentioning `needle`; the model
  /// keeps no quantizer and its outputs.
  private func expectRejected(
    _ cfg: QuantizeConfig, model: Module = MLP(sizes, seed: 1), batches: [Tensor]? = nil, mentioning needle: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let x = data()[0]
    let before = Tensor.withoutGrad { model(x) }.scalars
    let loopData = batches ?? data()
    do {
      _ = try QuantizeMode.convert(model, config: cfg, context: ModeContext(forwardLoop: { m in for b in loopData { _ = m(b) } }))
      Issue.record("converted", sourceLocation: sourceLocation)
    } catch {
      #expect("\(error)".contains(needle), "\(error)", sourceLocation: sourceLocation)
    }
    #expect(model.namedQuantizers().isEmpty, sourceLocation: sourceLocation)
    #expect(Tensor.withoutGrad { model(x) }.scalars == before, sourceLocation: sourceLocation)
  }

  @Test func configsFromTheIssueAreRejectedAtConvert() throws {
    expectRejected(try rule("fc3.output_quantizer", #"{"format": "nvfp4"}"#), mentioning: "'fc3.output_quantizer.blockSize'")
    expectRejected(try rule("fc3.output_quantizer", #"{"format": "mxfp4"}"#), mentioning: "'fc3.output_quantizer.blockSize'")
    expectRejected(
      try rule("fc1.output_quantizer", #"{"format": "int8", "dynamic": true, "blockSize": 7}"#),
      mentioning: "block size 7 does not divide the last dimension 32")
    expectRejected(try rule("*input_quantizer", #"{"format": "int8", "axis": 5}"#), mentioning: "'fc1.input_quantizer.axis': axis 5")
    expectRejected(try rule("*input_quantizer", #"{"format": "int8", "axis": 0}"#), mentioning: "batch axis")
    expectRejected(try rule("*input_quantizer", #"{"format": "int8", "axis": -2}"#), mentioning: "batch axis")
  }

  /// Where the layer does not fix the shape (a convolution's width), the forward loop shows it.
  @Test func shapesSeenInTheForwardLoopAreChecked() throws {
    var rng = RandomGenerator(seed: 9)
    let images = [Tensor.randn([2, 64], using: &rng)]
    expectRejected(
      try rule("conv1.output_quantizer", #"{"format": "nvfp4", "dynamic": true}"#), model: SmallCNN(seed: 1),
      batches: images, mentioning: "conv1.output_quantizer")
    expectRejected(
      try rule("conv1.output_quantizer", #"{"format": "int8", "axis": 4}"#), model: SmallCNN(seed: 1), batches: images,
      mentioning: "'conv1.output_quantizer.axis': axis 4 is out of range")
    // A static channel axis whose length changes between batches (a sequence axis).
    let sequences = [Tensor.randn([2, 3, 64], using: &rng), Tensor.randn([2, 5, 64], using: &rng)]
    expectRejected(
      try rule("fc1.input_quantizer", #"{"format": "int8", "axis": 1}"#), batches: sequences,
      mentioning: "calibration saw 3 range groups")
  }

  /// Without a forward loop the shape is unknown at convert time; the checked forward pass
  /// throws where `model(x)` would trap, and accepts what fits.
  @Test func checkedForwardThrowsInsteadOfTrapping() throws {
    let cnn = SmallCNN(seed: 1)
    _ = try QuantizeMode.convert(
      cnn, config: try rule("conv1.output_quantizer", #"{"format": "nvfp4", "dynamic": true}"#), context: ModeContext())
    var rng = RandomGenerator(seed: 3)
    #expect {
      try cnn.checkedForward(Tensor.randn([2, 64], using: &rng))
    } throws: { e in
      guard case QuantizerError.incompatibleInput(let path, let shape, _) = e else { return false }
      return path == "conv1.output_quantizer" && shape == [2, 8, 8, 8]
    }

    let mlp = MLP(Self.sizes, seed: 1)
    let loop = data()
    _ = try QuantizeMode.convert(
      mlp, config: .weightsAndActivations(weights: .int(8, axis: 0), activations: .int(8, axis: -1)),
      context: ModeContext(forwardLoop: { m in for b in loop { _ = m(b) } }))
    // Any batch size, and a rank-3 input with the same last axis, fit.
    #expect(try mlp.checkedForward(Tensor.randn([3, 64], using: &rng)).shape == [3, 10])
    #expect(try mlp.checkedForward(Tensor.randn([2, 5, 64], using: &rng)).shape == [2, 5, 10])
    // The wrong feature count names the first layer.
    #expect {
      try mlp.checkedForward(Tensor.randn([3, 63], using: &rng))
    } throws: { e in
      guard case ModuleError.incompatibleInput(let path, let shape, _) = e else { return false }
      return path == "fc1" && shape == [3, 63]
    }
  }

  @Test func checkedForwardChecksTheBuiltInLayers() throws {
    var rng = RandomGenerator(seed: 5)
    let cases: [(Module, Tensor, String)] = [
      (Conv2d(3, 4, kernel: 3), Tensor.randn([1, 2, 5, 5], using: &rng), "<model>"),
      (Conv2d(3, 4, kernel: 3), Tensor.randn([1, 3, 2, 2], using: &rng), "<model>"),
      (Embedding(5, 4), try Tensor([0, 5, 1], shape: [3]), "<model>"),
      (Embedding(5, 4), try Tensor([0, .nan], shape: [2]), "<model>"),
      (LayerNorm(6), Tensor.randn([2, 5], using: &rng), "<model>"),
      (MultiHeadAttention(dim: 8, heads: 2), Tensor.randn([2, 8], using: &rng), "<model>"),
      (SmallCNN(), Tensor.randn([2, 63], using: &rng), "<model>"),
      (SmallCNN(), Tensor.randn([2, 1, 16, 16], using: &rng), "<model>"),
    ]
    for (layer, x, path) in cases {
      #expect {
        try layer.checkedForward(x)
      } throws: { e in
        guard case ModuleError.incompatibleInput(let p, let shape, _) = e else { return false }
        return p == path && shape == x.shape
      }
    }
    // What fits still runs, with gradients.
    let conv = Conv2d(3, 4, kernel: 3, padding: 1)
    let x = Tensor.randn([1, 3, 4, 4], using: &rng, requiresGrad: true)
    try conv.checkedForward(x).sum().backward()
    #expect(x.grad?.shape == [1, 3, 4, 4])
  }
}
