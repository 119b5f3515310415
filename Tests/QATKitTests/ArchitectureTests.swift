import Foundation
import QATPluginTesting
import QATTestSupport
import Testing

@testable import QATKit

/// PyTorch's outputs for the bring-your-own models (`Examples/byo/expected.json`).
private struct Expected: Decodable {
  struct Model: Decodable {
    let test_accuracy: Double
    let first16_test_logits: [[Float]]
    let test_predictions: [Int]
  }
  let cnn_seq_digits: Model
  let gelu_mlp_digits: Model
}

@Suite("Architecture files")
struct ArchitectureTests {
  private func expected() throws -> Expected {
    try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Examples.url("byo/expected.json")))
  }

  /// The nn.Sequential CNN PyTorch trained: loads by position names and reproduces PyTorch's
  /// predictions on all 360 test rows and its logits within float tolerance.
  @Test func pytorchSequentialCNNReproducesPredictions() throws {
    let arch = try Architecture(contentsOf: Examples.url("byo/cnn_seq_digits.json"))
    #expect(try arch.outputShape(forSample: [1, 8, 8]) == [10])
    let model = try arch.load(weights: Examples.url("byo/cnn_seq_digits.safetensors"))
    #expect(model.stateDict().map(\.0) == ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias"])
    let (_, test) = try Digits.load()
    let images = try test.shaped([1, 8, 8])
    let e = try expected().cnn_seq_digits
    model.eval()
    let logits = Tensor.withoutGrad { model(images.all.inputs) }
    #expect(logits.argmax(axis: -1) == e.test_predictions)
    let difference = maxAbsDifference(Array(logits.scalars[0..<160]), e.first16_test_logits.flatMap { $0 })
    print("CNN: max |logit - PyTorch's| over 16 test rows:", difference)
    #expect(difference < 1e-4)
    #expect(abs(Double(try Training.accuracy(model, on: images)) - e.test_accuracy) < 1e-6)
  }

  /// The GELU MLP with named children (`backbone.0`, `classifier`).
  @Test func pytorchNamedChildrenMLPReproducesPredictions() throws {
    let arch = try Architecture(contentsOf: Examples.url("byo/gelu_mlp_digits.json"))
    let model = try arch.load(weights: Examples.url("byo/gelu_mlp_digits.safetensors"))
    let (_, test) = try Digits.load()
    let e = try expected().gelu_mlp_digits
    model.eval()
    let logits = Tensor.withoutGrad { model(test.all.inputs) }
    #expect(logits.argmax(axis: -1) == e.test_predictions)
    let difference = maxAbsDifference(Array(logits.scalars[0..<160]), e.first16_test_logits.flatMap { $0 })
    print("GELU MLP: max |logit - PyTorch's| over 16 test rows:", difference)
    #expect(difference < 1e-4)
    #expect(abs(Double(try Training.accuracy(model, on: test)) - e.test_accuracy) < 1e-6)
  }
}

private struct Zoo: Decodable {
  struct Model: Decodable {
    let input: [Float]
    let output: [Float]
    let state_dict: [String]
  }
  let conv_zoo: Model
  let token_zoo: Model
}

@Suite("Architecture files: every layer type against PyTorch")
struct ArchitectureLayerTests {
  private func zoo() throws -> Zoo { try Fixtures.json(Zoo.self, "architecture/expected.json", in: .module) }

  @Test func convZooMatchesPyTorch() throws {
    let arch = try Architecture(contentsOf: Fixtures.url("architecture/conv_zoo.json", in: .module))
    let model = try arch.load(weights: Fixtures.url("architecture/conv_zoo.safetensors", in: .module))
    let e = try zoo().conv_zoo
    #expect(model.stateDict().map(\.0) == e.state_dict)
    #expect(model.namedBuffers().map(\.0).contains("1.num_batches_tracked"))
    #expect(!model.namedParameters().map(\.0).contains("1.running_mean"))
    model.eval()
    let y = Tensor.withoutGrad { model(try! Tensor(e.input, shape: [3, 2, 6, 6])) }
    #expect(y.shape == [3, 3])
    #expect(maxAbsDifference(y.scalars, e.output) < 1e-5)
  }

  @Test func tokenZooMatchesPyTorch() throws {
    let arch = try Architecture(contentsOf: Fixtures.url("architecture/token_zoo.json", in: .module))
    let model = try arch.load(weights: Fixtures.url("architecture/token_zoo.safetensors", in: .module))
    let e = try zoo().token_zoo
    #expect(model.stateDict().map(\.0) == e.state_dict)
    model.eval()
    let y = Tensor.withoutGrad { model(try! Tensor(e.input, shape: [2, 5])) }
    #expect(maxAbsDifference(y.scalars, e.output) < 1e-5)
  }

  @Test func jsonRoundTripsAndShapesAreChecked() throws {
    let arch = try Architecture(contentsOf: Fixtures.url("architecture/conv_zoo.json", in: .module))
    #expect(try Architecture(json: arch.json) == arch)
    #expect(try arch.outputShape(forSample: [2, 6, 6]) == [3])
    // A wrong size names the layer and both sizes, before anything runs.
    var bad = arch
    bad.layers[7] = .init(.linear(inFeatures: 15, outFeatures: 12, bias: true))
    #expect { try bad.build() } throws: { e in
      guard case ConfigError.invalidValue(_, let path, let m) = e else { return false }
      return path == "layers[7]" && m.contains("expects 15") && m.contains("gets 16")
    }
    #expect(throws: ConfigError.self) { try arch.outputShape(forSample: [3, 6, 6]) }
    #expect(throws: ConfigError.self) { try arch.outputShape(forSample: [2, 1, 1]) }
  }

  @Test func decodingIsStrictWithSuggestions() throws {
    func error(_ text: String) -> String {
      do { _ = try Architecture(json: JSONValue(parsing: text)); return "" } catch { return "\(error)" }
    }
    #expect(error(#"{"layers": [{"type": "Linaer", "in_features": 2, "out_features": 3}]}"#).contains("did you mean 'Linear'"))
    let unknownKey = error(#"{"layers": [{"type": "Linear", "in_feature": 2, "out_features": 3}]}"#)
    #expect(unknownKey.contains("layers[0].in_feature") && unknownKey.contains("did you mean 'in_features'"))
    #expect(error(#"{"layers": [{"type": "Linear", "out_features": 3}]}"#).contains("layers[0].in_features"))
    #expect(error(#"{"layers": [{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 0}]}"#).contains("kernel_size"))
    #expect(error(#"{"layers": [{"type": "ReLU", "name": "a"}, {"type": "ReLU", "name": "a"}]}"#).contains("used twice"))
    #expect(error(#"{"layers": [], "input_shape": [1]}"#).contains("at least one layer"))
    #expect(error(#"{"layer": []}"#).contains("did you mean 'layers'"))
    #expect(error(#"{"layers": [{"type": "nn.GELU", "approximate": "tanh"}]}"#).contains("exact GELU"))
    // `nn.` prefixes and bare arrays are accepted.
    let bare = try Architecture(json: JSONValue(parsing: #"[{"type": "nn.Linear", "in_features": 2, "out_features": 3}]"#))
    #expect(bare.layers.count == 1 && bare.inputShape == nil)
  }

  @Test func strictLoadingListsMissingUnexpectedAndMisShapedNames() throws {
    let url = temporaryFileURL("zoo-mismatch").appendingPathExtension("safetensors")
    let source = try Architecture.mlp([4, 6, 3]).build(seed: 1)
    try source.saveSafeTensors(to: url)
    let other = Architecture(layers: [
      .init(.linear(inFeatures: 4, outFeatures: 5, bias: true), name: "fc1"),
      .init(.relu), .init(.linear(inFeatures: 5, outFeatures: 3, bias: true), name: "head"),
    ])
    #expect { try other.load(weights: url) } throws: { e in
      guard case ModuleError.stateMismatch(let missing, let unexpected, let misShaped) = e else { return false }
      return missing == ["head.weight", "head.bias"] && unexpected == ["fc2.bias", "fc2.weight"]
        && misShaped.count == 2 && misShaped[0].hasPrefix("fc1.weight")
    }
    // A renaming rule maps the names (here: fc2 -> head, after fixing the size).
    let renamed = Architecture(layers: [
      .init(.linear(inFeatures: 4, outFeatures: 6, bias: true), name: "fc1"),
      .init(.relu), .init(.linear(inFeatures: 6, outFeatures: 3, bias: true), name: "head"),
    ])
    let model = try renamed.load(weights: url, renaming: KeyRenaming(parsing: ["fc2.=head."]))
    let x = try Tensor((0..<8).map { Float($0) / 8 }, shape: [2, 4])
    #expect(Tensor.withoutGrad { model(x).scalars == source(x).scalars })
    #expect(throws: ConfigError.self) { try KeyRenaming(parsing: ["module."]) }
    #expect(try KeyRenaming(parsing: ["module.="]).apply("module.fc1.weight") == "fc1.weight")
    #expect(try KeyRenaming(parsing: ["module.="]).apply("fc1.weight") == "fc1.weight")
  }
}
