import Foundation
import QATTestSupport
import Testing

@testable import QATKit
import QATPluginTesting

/// The parts of `mlp_digits_fp32_expected.json` the tests use.
private struct Expected: Decodable {
  struct Matrix: Decodable {
    let shape: [Int]
    let data: [Double]
    /// Values as written by PyTorch in float32 (printed through Double: exact after rounding).
    var floats: [Float] { data.map { Float($0) } }
  }
  // Names as in the JSON file.
  let first16_logits: Matrix
  let first16_inputs_standardized: Matrix
  let test_predictions: [Int]
  let test_labels: [Int]
  let test_correct: Int
  let n_test: Int
}

private func fixtureModel() throws -> (model: MLP, expected: Expected) {
  let model = MLP([64, 256, 256, 10], seed: 123)
  try model.loadSafeTensors(from: Fixtures.url("models/mlp_digits_fp32.safetensors", in: .module))
  let expected = try Fixtures.json(Expected.self, "models/mlp_digits_fp32_expected.json", in: .module)
  return (model, expected)
}

@Suite("InteropTests: PyTorch MLP fixture")
struct PyTorchMLPInteropTests {
  @Test("inputs and first 16 logits match PyTorch within 1e-5")
  func logits() throws {
    let (model, expected) = try fixtureModel()
    let test = try Digits.load().test
    let batch = test.prefix(16).all
    #expect(batch.inputs.scalars == expected.first16_inputs_standardized.floats)
    let logits = Tensor.withoutGrad { model(batch.inputs) }
    #expect(logits.shape == expected.first16_logits.shape)
    let diff = maxAbsDifference(logits.scalars, expected.first16_logits.floats)
    #expect(diff <= 1e-5, "max |Δ| = \(diff)")
  }

  @Test("all 360 test predictions and the accuracy 350/360")
  func predictions() throws {
    let (model, expected) = try fixtureModel()
    let test = try Digits.load().test
    #expect(test.labels == expected.test_labels)
    let predictions = Tensor.withoutGrad { model(test.all.inputs).argmax(axis: -1) }
    #expect(predictions == expected.test_predictions)
    let correct = zip(predictions, test.labels).filter { $0 == $1 }.count
    #expect(correct == 350 && expected.test_correct == 350 && expected.n_test == 360)
    #expect(try Training.accuracy(model, on: test) == Float(350) / 360)
  }

  @Test("strict loading into the wrong architecture lists every problem and changes nothing")
  func wrongArchitecture() throws {
    let model = MLP([64, 128, 10])
    let before = model.stateDict().map(\.1.scalars)
    let url = try Fixtures.url("models/mlp_digits_fp32.safetensors", in: .module)
    do {
      try model.loadSafeTensors(from: url)
      Issue.record("expected stateMismatch")
    } catch let ModuleError.stateMismatch(missing, unexpected, misShaped) {
      #expect(missing.isEmpty)
      #expect(unexpected == ["fc3.bias", "fc3.weight"])
      #expect(misShaped.map { String($0.prefix { $0 != ":" }) } == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
    }
    #expect(throws: ModuleError.self) { try model.loadSafeTensors(from: url, strict: false) }
    #expect(model.stateDict().map(\.1.scalars) == before)
  }
}

@Suite("InteropTests: model safetensors round trip")
struct ModuleSafeTensorsTests {
  @Test("save then load reproduces every tensor, in state-dict order, as F32 with metadata")
  func roundTrip() throws {
    let source = DigitsTransformer(dim: 8, heads: 2, seed: 1)
    let url = temporaryFileURL("roundtrip")
    defer { try? FileManager.default.removeItem(at: url) }
    try source.saveSafeTensors(to: url, metadata: ["format": "pt", "model": "digits-transformer"])
    let file = try SafeTensors.open(contentsOf: url)
    #expect(file.names == source.stateDict().map(\.0))
    #expect(file.tensors.allSatisfy { $0.dtype == .f32 })
    #expect(file.metadata == ["format": "pt", "model": "digits-transformer"])
    #expect(try file.info("block.attention.query.weight").shape == [8, 8])
    let target = DigitsTransformer(dim: 8, heads: 2, seed: 2)
    #expect(target.stateDict().map(\.1.scalars) != source.stateDict().map(\.1.scalars))
    try target.loadSafeTensors(from: url)
    #expect(target.stateDict().map(\.1.scalars) == source.stateDict().map(\.1.scalars))
    var rng = RandomGenerator(seed: 99)
    let x = Tensor.uniform([3, 64], low: -1, high: 1, using: &rng)
    #expect(Tensor.withoutGrad { target(x).scalars == source(x).scalars })
  }

  @Test("the fixture round-trips byte-for-byte in values")
  func fixtureRoundTrip() throws {
    let (model, _) = try fixtureModel()
    let url = temporaryFileURL("fixture-roundtrip")
    defer { try? FileManager.default.removeItem(at: url) }
    try model.saveSafeTensors(to: url)
    let original = try SafeTensors.open(contentsOf: Fixtures.url("models/mlp_digits_fp32.safetensors", in: .module))
    let saved = try SafeTensors.open(contentsOf: url)
    for name in original.names {
      #expect(try saved.floats(name) == original.floats(name), "\(name)")
      #expect(try saved.info(name).shape == original.info(name).shape)
    }
  }

  @Test("half-precision files load with conversion; non-strict ignores extras and gaps")
  func otherDTypes() throws {
    let model = MLP([2, 3, 2], seed: 1)
    let url = temporaryFileURL("f16")
    defer { try? FileManager.default.removeItem(at: url) }
    let weight: [Float] = [0.5, -1.25, 2, 0.1, 3, -0.75]
    try SafeTensors.write(
      floats: [("fc1.weight", [3, 2], weight), ("extra", [1], [9])], as: .f16, to: url)
    #expect(throws: ModuleError.self) { try model.loadSafeTensors(from: url) }
    let bias = model.layers[0].bias!.scalars
    try model.loadSafeTensors(from: url, strict: false)
    let f16 = weight.map { Float(Float16($0)) }
    #expect(model.layers[0].weight.scalars == f16)
    #expect(model.layers[0].bias!.scalars == bias)
  }

  @Test("integer tensors, missing files and unwritable paths throw")
  func errors() throws {
    let model = MLP([2, 2], seed: 1)
    let url = temporaryFileURL("int")
    defer { try? FileManager.default.removeItem(at: url) }
    try SafeTensors.write([("fc1.weight", .i32, [2, 2], [UInt8](repeating: 0, count: 16))], to: url)
    do {
      try model.loadSafeTensors(from: url, strict: false)
      Issue.record("expected a dtype error")
    } catch let error as SafeTensorsError {
      #expect(error.kind == .dtypeMismatch("fc1.weight", .i32, "Float"))
    }
    #expect(throws: SafeTensorsError.self) { try model.loadSafeTensors(from: temporaryFileURL("missing")) }
    let bad = temporaryFileURL("no-such-dir").appendingPathComponent("model.safetensors")
    #expect(throws: SafeTensorsError.self) { try model.saveSafeTensors(to: bad) }
    #expect(!FileManager.default.fileExists(atPath: bad.path))
  }
}
