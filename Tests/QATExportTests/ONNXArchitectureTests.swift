import Foundation
import QATKit
import QATRegistry
import QATTestSupport
import Testing
@testable import QATExport

/// Models built from architecture files export to ONNX: every layer type of the files has an
/// emitter (the graph is checked structurally here; `scripts/check_onnx.py` runs onnxruntime on
/// `qatkit-run export ... --reference` output).
@Suite("ONNX export of architecture-file models") struct ONNXArchitectureTests {
  @Test func everyLayerTypeHasAnEmitter() throws {
    let arch = try Architecture(json: JSONValue(parsing: """
      {"input_shape": [2, 6, 6], "layers": [
        {"type": "Conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2d", "num_features": 4}, {"type": "SiLU"}, {"type": "MaxPool2d", "kernel_size": 3, "stride": 1},
        {"type": "AvgPool2d", "kernel_size": 2}, {"type": "Flatten"}, {"type": "Dropout", "p": 0.3},
        {"type": "Linear", "in_features": 16, "out_features": 12}, {"type": "BatchNorm1d", "num_features": 12}, {"type": "Tanh"},
        {"type": "Reshape", "shape": [3, 4]},
        {"type": "Residual", "layers": [{"type": "LayerNorm", "normalized_shape": 4}, {"type": "Linear", "in_features": 4, "out_features": 4}, {"type": "Sigmoid"}]},
        {"type": "Mean", "dim": 1}, {"type": "Linear", "in_features": 4, "out_features": 3}]}
      """))
    let model = try arch.build(seed: 2)
    var rng = RandomGenerator(seed: 3)
    let calib = Tensor.randn([8, 2, 6, 6], using: &rng)
    try convert(model, modes: [.quantize(QuantizeConfig(preset: .int8))], forwardLoop: { _ = $0(calib) })
    let (m, _) = try ONNXTests.roundTrip(model, inputShape: [1, 2, 6, 6])
    let ops = Set(m.graph.nodes.map(\.opType))
    for op in ["Conv", "BatchNormalization", "Sigmoid", "Mul", "MaxPool", "AveragePool", "Flatten", "MatMul", "Tanh",
               "Reshape", "LayerNormalization", "Add", "ReduceMean", "QuantizeLinear", "DequantizeLinear"] {
      #expect(ops.contains(op), "\(op) in \(ops.sorted())")
    }
  }
}
