import Foundation
import QATKit
import Testing
@testable import QATRegistry

/// Static block ranges in ModelOpt's layout: QATKit calibrates the same `[blocks, 1]` `_amax`
/// as ModelOpt 0.47 (same values, same order), loads ModelOpt's state dict strictly, and
/// reproduces its fake-quantized output.
@Suite struct ModelOptBlockRangeTests {
  @Test func sameLayoutValuesAndOutputs() throws {
    let f = try SafeTensorsFile(contentsOf: fixtures().appendingPathComponent("modelopt/block_amax.safetensors"))
    func t(_ name: String) throws -> Tensor { try Tensor(f.floats(name), shape: f.info(name).shape) }
    let model = MLP([8, 6, 4])
    try model.loadStateDict(["fc1.weight": t("fc1.weight"), "fc1.bias": t("fc1.bias"), "fc2.weight": t("fc2.weight"), "fc2.bias": t("fc2.bias")])
    try convert(model, modes: [.quantize(.weightsAndActivations(weights: .int(4, blockSize: 2), activations: nil))])
    let state = Dictionary(uniqueKeysWithValues: model.stateDict())
    for name in ["fc1.weight_quantizer._amax", "fc2.weight_quantizer._amax"] {
      #expect(state[name]?.shape == (try f.info(name).shape))
      #expect(state[name]?.scalars == (try f.floats(name)))
    }
    // ModelOpt's state dict loads strictly into the QATKit model.
    let theirs = try Dictionary(uniqueKeysWithValues: f.names.filter { $0 != "input" && $0 != "output" }.map { ($0, try t($0)) })
    try model.loadStateDict(theirs, strict: true)
    let x = try t("input")
    let y = Tensor.withoutGrad { model(x) }.scalars
    let want = try f.floats("output")
    #expect(zip(y, want).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
  }
}
