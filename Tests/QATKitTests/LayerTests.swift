import Foundation
import QATPluginTesting
import QATTestSupport
import Testing

@testable import QATKit

private func uniform(_ shape: [Int], seed: UInt64) -> Tensor {
  var rng = RandomGenerator(seed: seed)
  return .uniform(shape, low: -1.5, high: 1.5, using: &rng)
}

private final class NotCopyableLinear: Linear {}

@Suite("Layers for architecture files")
struct LayerModuleTests {
  @Test func layersMatchTheirTensorOperations() throws {
    let x = uniform([2, 3, 6, 6], seed: 1)
    #expect(MaxPool2d(kernel: 3, stride: 2)(x).scalars == x.maxPool2d(kernel: 3, stride: 2).scalars)
    #expect(AvgPool2d(kernel: 2)(x).scalars == x.avgPool2d(kernel: 2).scalars)
    #expect(Flatten()(x).shape == [2, 108])
    #expect(Flatten(startDim: 2)(x).shape == [2, 3, 36])
    #expect(Reshape([-1, 9])(x).shape == [2, 12, 9])
    #expect(Reshape([-1, 9])(x).scalars == x.scalars)
    #expect(Mean(axis: 1)(x).scalars == x.mean(axis: 1).scalars)
    #expect(Tanh()(x).scalars == x.tanh().scalars)
    #expect(Sigmoid()(x).scalars == x.sigmoid().scalars)
    let silu = SiLU()(x).scalars
    #expect(allClose(silu, x.scalars.map { $0 / (1 + Foundation.exp(-$0)) }, atol: 1e-6))
    // Named Sequential children are the state-dict prefixes; positions otherwise.
    let s = Sequential(named: [("encoder", Linear(4, 3)), ("act", ReLU()), ("head", Linear(3, 2))])
    #expect(s.stateDict().map(\.0) == ["encoder.weight", "encoder.bias", "head.weight", "head.bias"])
    try s.replaceModule(at: "head", with: Linear(3, 5))
    #expect(s(uniform([1, 4], seed: 2)).shape == [1, 5])
  }

  @Test func batchNormUsesRunningStatisticsAndTrainsAffine() throws {
    let bn = BatchNorm(3, eps: 1e-3)
    try bn.runningMean.assign(Tensor([0.5, -1, 2]))
    try bn.runningVar.assign(Tensor([4, 0.25, 1]))
    try bn.weight.assign(Tensor([1, 2, -1]))
    try bn.bias.assign(Tensor([0, 0.5, 1]))
    let x = uniform([2, 3, 2, 2], seed: 3)
    let y = bn(x).scalars
    for i in 0..<x.count {
      let c = (i / 4) % 3
      let mean: [Float] = [0.5, -1, 2], v: [Float] = [4, 0.25, 1], w: [Float] = [1, 2, -1], b: [Float] = [0, 0.5, 1]
      #expect(isClose(y[i], (x.scalars[i] - mean[c]) / (v[c] + 1e-3).squareRoot() * w[c] + b[c], atol: 1e-5))
    }
    #expect(bn.namedParameters().map(\.0) == ["weight", "bias"])
    #expect(bn.stateDict().map(\.0) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
    // Gradients reach the input, γ and β; the running statistics never train.
    let report = GradientCheck.check([x, bn.weight, bn.bias]) { bn(x) }
    #expect(report.passed, "\(report)")
    #expect(bn.runningMean.grad == nil && !bn.runningMean.requiresGrad)
    let bn1 = BatchNorm(3)
    #expect(bn1(uniform([4, 3], seed: 4)).shape == [4, 3])
  }

  @Test func residualAndSiLUGradients() throws {
    let body = Sequential([LayerNorm(4), Linear(4, 4, seed: 5), SiLU()])
    let block = Residual(body)
    let x = uniform([3, 4], seed: 6)
    #expect(block.stateDict().map(\.0).first == "body.0.weight")
    let report = GradientCheck.check([x] + block.parameters()) { block(x) }
    #expect(report.passed, "\(report)")
  }
}

@Suite("Module copy")
struct ModuleCopyTests {
  @Test func copyIsDeepWithQuantizersAndFlags() throws {
    let model = try Architecture(layers: [
      .init(.conv2d(inChannels: 1, outChannels: 4, kernel: 3, stride: 1, padding: 1, bias: true)),
      .init(.batchNorm(channels: 4, eps: 1e-5, spatial: true)), .init(.relu), .init(.maxPool2d(kernel: 2, stride: 2)),
      .init(.flatten(startDim: 1)), .init(.linear(inFeatures: 16, outFeatures: 3, bias: true), name: "head"),
    ], inputShape: [1, 4, 4]).build(seed: 3)
    try model.namedBuffers()[0].1.assign(Tensor([0.1, 0.2, 0.3, 0.4]))
    let x = uniform([5, 1, 4, 4], seed: 8)
    let (quantized, _) = try QuantizeMode.convert(
      model, config: QuantizeConfig(preset: .int8), context: ModeContext(forwardLoop: { m in _ = m(x) }))
    quantized.eval()
    let head = try quantized.module(at: "head")
    head.quantizer(slot: "input_quantizer")!.isEnabled = false
    let copy = try quantized.copy()
    #expect(type(of: copy) == Sequential.self)
    #expect(!copy.training)
    #expect(Tensor.withoutGrad { copy(x).scalars == quantized(x).scalars })
    #expect(copy.stateDict().map(\.0) == quantized.stateDict().map(\.0))
    #expect(try copy.module(at: "head").quantizer(slot: "input_quantizer")?.isEnabled == false)
    // Nothing is shared: changing the original leaves the copy alone.
    let originalTensors = Set(quantized.stateDict().map { ObjectIdentifier($0.1) })
    #expect(copy.stateDict().allSatisfy { !originalTensors.contains(ObjectIdentifier($0.1)) })
    let before = Tensor.withoutGrad { copy(x).scalars }
    try quantized.stateDict()[0].1.assign(Tensor.zeros(quantized.stateDict()[0].1.shape))
    #expect(Tensor.withoutGrad { copy(x).scalars } == before)
    let allTrainable = copy.parameters().allSatisfy { $0.requiresGrad }
    #expect(allTrainable)
  }

  @Test func replacedChildrenAndErrors() throws {
    // A child replaced after construction is copied as the replacement.
    let cnn = SmallCNN(seed: 1)
    try cnn.replaceModule(at: "fc", with: Linear(64, 10, bias: false, seed: 9))
    let copy = try cnn.copy()
    #expect(copy.fc.bias == nil)
    let x = uniform([2, 1, 8, 8], seed: 2)
    #expect(Tensor.withoutGrad { copy(x).scalars == cnn(x).scalars })
    // A subclass without its own emptyCopy() is reported, not copied as its parent.
    let s = Sequential([NotCopyableLinear(2, 2)])
    #expect { try s.copy() } throws: { "\($0)".contains("NotCopyableLinear inherits emptyCopy() from Linear") }
    // A distillation wrapper holds a live teacher.
    let dm = try DistillationModel(student: MLP([4, 3]), config: KDConfig(teacher: MLP([4, 3], seed: 2), criterion: LogitsKLCriterion()))
    #expect { try dm.copy() } throws: { "\($0)".contains("copy its student") }
    // A quantizer algorithm the environment does not know is named.
    let m = MLP([4, 3])
    var attrs = QuantizerAttributes.int(8)
    attrs.algorithm = "custom"
    m.layers[0].setQuantizer(try TensorQuantizerStandIn(attributes: attrs), slot: "weight_quantizer")
    #expect { try m.copy() } throws: { "\($0)".contains("algorithm 'custom'") }
  }
}

/// A quantizer that claims an algorithm the built-in environment does not have.
private final class TensorQuantizerStandIn: Quantizer {
  var isEnabled = true
  let attributes: QuantizerAttributes
  init(attributes: QuantizerAttributes) throws { self.attributes = attributes }
  func callAsFunction(_ x: Tensor) -> Tensor { x }
  func stateTensors() -> [(String, Tensor)] { [] }
}
