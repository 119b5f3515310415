import Foundation
import QATKit
import QATRegistry
import QATTestSupport
import Testing

/// The parts of `--json` the tests read.
private struct Results: Decodable {
  struct Stage: Decodable {
    let stage: String
    let recipe: String
    let ranges: String
    let accuracy: Float
    let checkpoint: String?
    let curve: [Point]
  }
  struct Point: Decodable {
    let epoch: Int
    let loss: Float
    let accuracy: Float
  }
  struct Layer: Decodable {
    let path: String
  }
  let classes: [String]?
  let stages: [Stage]
  let layers: [Layer]

  static func read(_ url: URL) throws -> Results { try JSONDecoder().decode(Results.self, from: Data(contentsOf: url)) }
}

/// Bring-your-own data and models through the command line, as a new user runs them.
@Suite("qatkit-run: your data and models")
struct CommandLineBYOTests {
  /// The CSV with string labels through the default pipeline; the CLI's numbers equal the
  /// library path's (the README's walkthrough) for the same settings, and the report is
  /// written, self-contained.
  @Test func irisRunMatchesTheLibraryPath() throws {
    let dir = ToolProcess.workingDirectory()
    let iris = try ExampleFiles.path("byo/iris.csv")
    let r = try ToolProcess.run(
      ["--data", iris, "--label-column", "species", "--epochs", "20", "--qat-epochs", "3", "--json", "r.json"], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("stage   recipe") && r.stdout.contains("3 classes (setosa, versicolor, virginica)"))
    #expect(r.stderr.contains("FP32  epoch 1/20"), "plain progress lines")
    let results = try Results.read(dir.appendingPathComponent("r.json"))
    #expect(results.classes == ["setosa", "versicolor", "virginica"])
    #expect(results.stages.map(\.stage) == ["FP32"] + Array([[String]](repeating: ["PTQ", "QAT", "QAT+KD"], count: 3).joined()))
    #expect(results.stages[0].curve.count == 20 && results.stages[2].curve.count == 3)
    #expect(results.layers.contains { $0.path == "fc1.input_quantizer" })
    for s in results.stages.dropFirst() {
      #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs/iris/\(s.checkpoint ?? "-")").path))
    }
    let html = try String(contentsOf: dir.appendingPathComponent("runs/iris/report.html"), encoding: .utf8)
    #expect(html.contains("<svg") && html.contains("Per-layer ranges and quantization error") && html.contains("fc1.input_quantizer"))
    #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "self-contained, no scripts")

    // The library path with the same data, model, seeds and settings.
    let data = try Dataset(contentsOf: URL(fileURLWithPath: iris), labelColumn: "species")
    let (rawTrain, rawTest) = try data.split(testFraction: 0.2, seed: 0)
    let scaler = Standardizer(fitting: rawTrain)
    let (train, test) = (try scaler.transform(rawTrain), try scaler.transform(rawTest))
    let fp32 = try Architecture.mlp([4, 16, 16, 3]).build(seed: 0)
    try Training.fit(fp32, data: train, epochs: 20, batchSize: 12, optimizer: Adam(fp32.parameters(), learningRate: 1e-3)) {
      Loss.crossEntropy(fp32($0), $1)
    }
    #expect(try Training.accuracy(fp32, on: test) == results.stages[0].accuracy)
    let ptq = try fp32.copy()
    try convert(ptq, modes: [.quantize(.weightsAndActivations(weights: .int(4, axis: 0), activations: .int(4)))],
                forwardLoop: { m in for b in try train.batches(size: 256) { _ = m(b.inputs) } })
    let w4a4 = results.stages.filter { $0.recipe.hasPrefix("W4A4") && $0.ranges == "max, frozen" }
    #expect(try Training.accuracy(ptq, on: test) == w4a4[0].accuracy)
    let qat = try ptq.copy()
    try Training.fit(qat, data: train, epochs: 3, batchSize: 12, optimizer: Adam(qat.parameters(), learningRate: 1e-4)) {
      Loss.crossEntropy(qat($0), $1)
    }
    #expect(try Training.accuracy(qat, on: test) == w4a4[1].accuracy)
  }

  /// train → quantize (a ModelOpt JSON config) → qat → distill → eval → export → inspect,
  /// each reading the checkpoint the previous one wrote.
  @Test func subcommandsChain() throws {
    let dir = ToolProcess.workingDirectory()
    let iris = try ExampleFiles.path("byo/iris.csv")
    try #"{"quant_cfg": [{"quantizer_name": "*", "enable": false}, {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "axis": 0}}, {"quantizer_name": "*input_quantizer", "cfg": {"num_bits": 8, "axis": null}}], "algorithm": "max"}"#
      .write(to: dir.appendingPathComponent("w4a8.json"), atomically: true, encoding: .utf8)
    func step(_ args: [String]) throws -> String {
      let r = try ToolProcess.run(args + ["--quiet"], in: dir)
      #expect(r.status == 0, "\(args): \(r.stderr)")
      #expect(r.stderr.isEmpty, "--quiet: \(r.stderr)")
      return r.stdout
    }
    let trained = try step(["train", "--data", iris, "--label-column", "species", "--epochs", "30", "--json", "train.json"])
    #expect(trained.contains("checkpoint: ") && trained.contains("runs/iris/fp32.safetensors"))
    let quantized = try step(["quantize", "--checkpoint", "runs/iris/fp32.safetensors", "--quant-cfg", "w4a8.json"])
    #expect(quantized.contains("fc1.weight_quantizer | static | int4 | per-channel(axis 0)"))
    #expect(quantized.contains("fc1.input_quantizer | static | int8 | per-tensor"))
    _ = try step(["qat", "--checkpoint", "runs/iris/ptq.safetensors", "--epochs", "2"])
    let distilled = try step(["distill", "--checkpoint", "runs/iris/ptq.safetensors", "--teacher", "runs/iris/fp32.safetensors", "--epochs", "2", "--kd-reduction", "mean", "--json", "kd.json"])
    #expect(distilled.contains("logits KL (T 1, mean)"))
    let evaluated = try step(["eval", "--checkpoint", "runs/iris/qat-kd.safetensors", "--predictions", "pred.csv"])
    let kd = try Results.read(dir.appendingPathComponent("kd.json"))
    #expect(evaluated.contains(pct(kd.stages[0].accuracy)))
    let predictions = try String(contentsOf: dir.appendingPathComponent("pred.csv"), encoding: .utf8).split(separator: "\n")
    #expect(predictions.count == 31 && predictions[0] == "row,predicted,label")
    #expect(predictions.dropFirst().allSatisfy { ["setosa", "versicolor", "virginica"].contains($0.split(separator: ",")[1]) })
    // Export reads the architecture the checkpoint records.
    let exported = try step(["export", "runs/iris/qat.safetensors", "--format", "safetensors", "--output", "iris.safetensors"])
    #expect(exported.contains("codes and scales") && exported.contains("verified"))
    let file = try SafeTensorsFile(contentsOf: dir.appendingPathComponent("iris.safetensors"))
    #expect(file.contains("fc1.weight_scale") && file.contains("fc1.input_scale"))
    _ = try step(["export", "runs/iris/qat-kd.safetensors", "--format", "onnx", "--output", "iris.onnx"])
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("iris.onnx").path))
    let inspected = try step(["inspect", "runs/iris/qat.safetensors"])
    #expect(inspected.contains("modes: quantize [QATKit]") && inspected.contains("fc1.weight_quantizer  amax[16]"))
    // A calibration algorithm plugin from a ModelOpt JSON config (snake_case options), and a
    // misspelled one (an input error, exit 2, naming the nearest).
    try #"{"quant_cfg": [{"quantizer_name": "*", "enable": false}, {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "axis": 0}}], "algorithm": {"method": "awq_lite", "alpha_step": 0.25}}"#
      .write(to: dir.appendingPathComponent("awq.json"), atomically: true, encoding: .utf8)
    let awq = try step(["quantize", "--checkpoint", "runs/iris/fp32.safetensors", "--quant-cfg", "awq.json", "--output", "awq.safetensors"])
    #expect(awq.contains("calibration algorithm: awq_lite {\"alphaStep\":0.25}"), "\(awq)")
    try #"{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "axis": 0}}], "algorithm": "awq_lyte"}"#
      .write(to: dir.appendingPathComponent("typo.json"), atomically: true, encoding: .utf8)
    let typo = try ToolProcess.run(["quantize", "--checkpoint", "runs/iris/fp32.safetensors", "--quant-cfg", "typo.json", "--quiet"], in: dir)
    #expect(typo.status == 2 && typo.stderr.contains("did you mean 'awq_lite'"), "\(typo.status): \(typo.stderr)")
  }

  /// The models PyTorch trained: evaluation reproduces PyTorch's accuracy and every
  /// prediction; a renaming rule maps a `module.` prefix.
  @Test func pytorchModelsReproducePredictions() throws {
    struct Expected: Decodable {
      struct Model: Decodable { let test_predictions: [Int] }
      let cnn_seq_digits: Model
      let gelu_mlp_digits: Model
    }
    let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Examples.url("byo/expected.json")))
    let dir = ToolProcess.workingDirectory()
    for (name, accuracy, predictions) in [
      ("cnn_seq_digits", "94.44% (340 of 360)", expected.cnn_seq_digits.test_predictions),
      ("gelu_mlp_digits", "96.94% (349 of 360)", expected.gelu_mlp_digits.test_predictions),
    ] {
      let r = try ToolProcess.run(
        ["eval", "--model", try ExampleFiles.path("byo/\(name).json"), "--weights", try ExampleFiles.path("byo/\(name).safetensors"),
         "--predictions", "\(name).csv"], in: dir)
      #expect(r.status == 0, "\(r.stderr)")
      #expect(r.stdout.contains("test accuracy \(accuracy)"), "\(r.stdout)")
      let rows = try String(contentsOf: dir.appendingPathComponent("\(name).csv"), encoding: .utf8).split(separator: "\n").dropFirst()
      #expect(rows.map { Int($0.split(separator: ",")[1])! } == predictions)
    }
    // An architecture without input_shape takes flat rows viewed with --input-shape.
    var flat = try Architecture(contentsOf: Examples.url("byo/cnn_seq_digits.json"))
    flat.inputShape = nil
    try flat.json.text.write(to: dir.appendingPathComponent("cnn-flat.json"), atomically: true, encoding: .utf8)
    let cnnArgs = ["eval", "--model", "cnn-flat.json", "--weights", try ExampleFiles.path("byo/cnn_seq_digits.safetensors")]
    let shaped = try ToolProcess.run(cnnArgs + ["--input-shape", "1,8,8"], in: dir)
    #expect(shaped.status == 0 && shaped.stdout.contains("94.44%"), "\(shaped.stderr)")
    let unshaped = try ToolProcess.run(cnnArgs, in: dir)
    #expect(unshaped.status == 2 && unshaped.stderr.contains("Conv2d expects samples [C, H, W]"), "\(unshaped.stderr)")

    // The same weights saved under `module.` (nn.DataParallel) load with --rename.
    let arch = try Architecture(contentsOf: Examples.url("byo/gelu_mlp_digits.json"))
    let model = try arch.load(weights: Examples.url("byo/gelu_mlp_digits.safetensors"))
    try SafeTensors.write(
      floats: model.stateDict().map { ("module." + $0.0, $0.1.shape, $0.1.scalars) }, metadata: ["format": "pt"],
      to: dir.appendingPathComponent("dp.safetensors"))
    let args = ["eval", "--model", try ExampleFiles.path("byo/gelu_mlp_digits.json"), "--weights", "dp.safetensors"]
    let without = try ToolProcess.run(args, in: dir)
    #expect(without.status == 2 && without.stderr.contains("unexpected keys: module.backbone.0.bias") && without.stderr.contains("--rename"))
    let renamed = try ToolProcess.run(args + ["--rename", "module.="], in: dir)
    #expect(renamed.status == 0 && renamed.stdout.contains("96.94%"), "\(renamed.stderr)")
    // PyTorch's {"format": "pt"} metadata reads as a plain state dict (format 0).
    let inspected = try ToolProcess.run(["inspect", "dp.safetensors"], in: dir)
    #expect(inspected.status == 0 && inspected.stdout.hasPrefix("format v0 · plain state dict (format 'pt')"), "\(inspected.stdout) \(inspected.stderr)")
  }

  /// Every example recipe runs (with fewer epochs), `--set` overrides reach any key, and a
  /// misspelled override is an error naming the nearest key.
  @Test func exampleRecipesRun() throws {
    let recipes = try FileManager.default.contentsOfDirectory(atPath: Examples.url("recipes").path).filter { $0.hasSuffix(".json") }.sorted()
    #expect(recipes == ["cnn-modelopt-int8.json", "gelu-mlp-nvfp4-kd.json", "iris-w4a4-lsq.json"])
    let shorter: [String: [String]] = [
      "cnn-modelopt-int8.json": ["--set", "stages.qat.epochs=1"],
      "gelu-mlp-nvfp4-kd.json": ["--set", "stages.distill.epochs=1"],
      "iris-w4a4-lsq.json": ["--set", "stages.train.epochs=20", "--set", "stages.qat.epochs=2", "--set", "stages.distill.epochs=2"],
    ]
    let dir = ToolProcess.workingDirectory()
    for recipe in recipes {
      let name = String(recipe.dropLast(5))
      let r = try ToolProcess.run(["recipe", try ExampleFiles.path("recipes/\(recipe)"), "--quiet"] + shorter[recipe]!, in: dir)
      #expect(r.status == 0, "\(recipe): \(r.stderr)")
      let results = try Results.read(dir.appendingPathComponent("runs/\(name)/results.json"))
      #expect(results.stages.count >= 3, "\(recipe)")
      #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs/\(name)/report.html").path))
    }
    let cnn = try Results.read(dir.appendingPathComponent("runs/cnn-modelopt-int8/results.json"))
    #expect(cnn.stages[0].accuracy > 0.944 && cnn.stages[0].accuracy < 0.945, "PyTorch's weights, untrained: 94.44%")
    // Overrides: a preset for the config, another output folder; a typo names the nearest key.
    let iris = try ExampleFiles.path("recipes/iris-w4a4-lsq.json")
    let set = try ToolProcess.run(
      ["recipe", iris, "--quiet", "--set", "stages.quantize.config=int8", "--set", "stages.quantize.learned_ranges=false",
       "--set", "stages.train.epochs=5", "--set", "stages.qat.epochs=1", "--set", "stages.distill.epochs=1", "--set", "output.dir=other"], in: dir)
    #expect(set.status == 0, "\(set.stderr)")
    #expect(try Results.read(dir.appendingPathComponent("other/results.json")).stages[1].recipe == "int8")
    let typo = try ToolProcess.run(["recipe", iris, "--set", "stages.qat.epoch=5"], in: dir)
    #expect(typo.status == 2 && typo.stderr.contains("unknown key 'stages.qat.epoch' (did you mean 'epochs'?)"), "\(typo.stderr)")
  }
}

private func pct(_ x: Float) -> String { String(format: "%.2f%%", 100 * x) }
