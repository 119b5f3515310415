import Foundation
import QATKit
import QATPlugins
import QATRegistry
import QATTestSupport
import QATTransformers
import Testing
@testable import QATExport

/// Writes the models `scripts/check_onnx.py` runs in onnxruntime (`.ci/run` sets
/// `QATKIT_ONNX_CHECK_DIR`): for each, `<name>.onnx` and `<name>.reference.safetensors` with
/// the digits test inputs, labels and QATKit's logits of the same quantized model (metadata:
/// QATKit's test accuracy); for BERT models `<name>.reference.safetensors` holds token ids, the
/// attention mask and QATKit's sentence embeddings instead. Skipped in plain `swift test`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["QATKIT_ONNX_CHECK_DIR"] != nil))
struct ONNXRuntimeArtifacts {
  static let out = URL(fileURLWithPath: ProcessInfo.processInfo.environment["QATKIT_ONNX_CHECK_DIR"] ?? "/nonexistent")

  static func write(
    _ name: String, _ model: Module, test: Dataset, imageInput: Bool = false, minimumAccuracy: Float = 0.8, registry: Registry = .builtin,
    metadata extra: [String: String] = [:]
  ) throws {
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let shape = imageInput ? [test.count, 1, 8, 8] : [test.count, 64]
    try ONNXExporter.standard.write(model, to: out.appendingPathComponent("\(name).onnx"), inputShape: shape, overwrite: true)
    let x = Tensor(shape: shape, storage: test.features)
    let logits = Tensor.withoutGrad { model(x) }
    let accuracy = try Training.accuracy(model, on: test)
    try SafeTensors.write(
      floats: [("input", shape, test.features), ("labels", [test.count], test.labels.map(Float.init)), ("logits", logits.shape, logits.scalars)],
      metadata: ["qatkit_accuracy": String(accuracy), "model": name].merging(extra) { _, new in new },
      to: out.appendingPathComponent("\(name).reference.safetensors"))
    try save(model, to: out.appendingPathComponent("\(name).checkpoint.safetensors"), registry: registry)
    #expect(accuracy > minimumAccuracy, "\(name): QATKit accuracy \(accuracy)")
  }

  @Test func digitsModels() throws {
    let (train, test) = try Digits.load()
    let calibrate: (Module) throws -> Void = { m in for b in try train.batches(size: 256) { _ = m(b.inputs) } }
    for (name, config) in [
      ("mlp_int8", QuantizeConfig(preset: .int8)),
      ("mlp_int4_block", QuantizeConfig.weightsAndActivations(weights: .int(4, blockSize: 64), activations: .int(8))),
      ("mlp_fp8", QuantizeConfig(preset: .fp8)),
    ] {
      let m = try ONNXTests.digitsFP32()
      try convert(m, modes: [.quantize(config)], forwardLoop: calibrate)
      try Self.write(name, m, test: test)
    }
    // Asymmetric (affine) integers: uint8 activations per tensor with their zero points, int8
    // weights per channel and uint4 weights in blocks of 16 (opset 21), both with zero points;
    // check_onnx.py requires nonzero zero points in these graphs (`zero_points` metadata).
    func affine(_ format: QuantFormat, axis: Int? = nil, blockSize: Int? = nil) -> QuantizerAttributes {
      QuantizerAttributes(format: format, axis: axis, blockSize: blockSize, algorithm: "affine")
    }
    for (name, weights) in [
      ("mlp_affine_u8_w8", affine(.int(bits: 8, signed: true), axis: 0)),
      ("mlp_affine_u8_w4_block", affine(.int(bits: 4, signed: false), blockSize: 16)),
    ] {
      let m = try ONNXTests.digitsFP32()
      let config = QuantizeConfig.weightsAndActivations(weights: weights, activations: affine(.int(bits: 8, signed: false)))
      try convert(m, modes: [.quantize(config)], registry: InTreePlugins.registry, forwardLoop: calibrate)
      try Self.write(name, m, test: test, registry: InTreePlugins.registry, metadata: ["zero_points": "required"])
    }
    // A small CNN trained from scratch (3 epochs), INT8 PTQ, with [N, 1, 8, 8] inputs.
    let cnn = SmallCNN(seed: 7)
    try Training.fit(cnn, data: train, epochs: 3, batchSize: 64, optimizer: Adam(cnn.parameters(), learningRate: 3e-3)) { x, y in
      Loss.crossEntropy(cnn(x), y)
    }
    try convert(cnn, modes: [.quantize(.int8)], forwardLoop: calibrate)
    try Self.write("cnn_int8", cnn, test: test, imageInput: true)
    // The digits transformer (attention without a mask), INT8 including the attention matmuls.
    let t = DigitsTransformer(dim: 32, heads: 4, seed: 5)
    try Training.fit(t, data: train, epochs: 4, batchSize: 64, optimizer: Adam(t.parameters(), learningRate: 3e-3)) { x, y in
      Loss.crossEntropy(t(x), y)
    }
    try convert(t, modes: [.quantize(QuantizeConfig(preset: .int8).adding("*bmm_quantizer", .int(8)))], forwardLoop: calibrate)
    try Self.write("transformer_int8", t, test: test)
  }

  /// Models from architecture files: the CNN PyTorch trained (`Examples/byo`), INT8 PTQ, and a
  /// model with every other layer type of the files (BatchNorm, SiLU, Tanh, Sigmoid, pooling
  /// modules, Reshape, a residual block, Mean), trained briefly.
  @Test func architectureModels() throws {
    let (train, test) = try Digits.load()
    let images = try train.shaped([1, 8, 8]), testImages = try test.shaped([1, 8, 8])
    let calibrate: (Module) throws -> Void = { m in for b in try images.batches(size: 256) { _ = m(b.inputs) } }
    let cnn = try Architecture(contentsOf: Examples.url("byo/cnn_seq_digits.json"))
      .load(weights: Examples.url("byo/cnn_seq_digits.safetensors"))
    try convert(cnn, modes: [.quantize(.int8)], forwardLoop: calibrate)
    try Self.write("byo_cnn_int8", cnn, test: testImages, imageInput: true)
    let zoo = try Architecture(json: JSONValue(parsing: """
      {"input_shape": [1, 8, 8], "layers": [
        {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2d", "num_features": 4}, {"type": "SiLU"}, {"type": "MaxPool2d", "kernel_size": 3, "stride": 1},
        {"type": "AvgPool2d", "kernel_size": 2}, {"type": "Flatten"},
        {"type": "Linear", "in_features": 36, "out_features": 48}, {"type": "BatchNorm1d", "num_features": 48}, {"type": "Tanh"},
        {"type": "Reshape", "shape": [4, 12]},
        {"type": "Residual", "layers": [{"type": "LayerNorm", "normalized_shape": 12}, {"type": "Linear", "in_features": 12, "out_features": 12}, {"type": "Sigmoid"}]},
        {"type": "Mean", "dim": 1}, {"type": "Linear", "in_features": 12, "out_features": 10}]}
      """)).build(seed: 4)
    try Training.fit(zoo, data: images, epochs: 5, batchSize: 64, optimizer: Adam(zoo.parameters(), learningRate: 3e-3)) { x, y in
      Loss.crossEntropy(zoo(x), y)
    }
    try convert(zoo, modes: [.quantize(.int8)], forwardLoop: calibrate)
    try Self.write("architecture_layers_int8", zoo, test: testImages, imageInput: true, minimumAccuracy: 0.5)
  }

  /// BERT: a tiny random BERT with INT8 on every Linear, LayerNorm input and attention matmul
  /// (a padded batch of random ids), always; all-MiniLM-L6-v2 in FP32 and INT8 W8A8
  /// (`INT8_DEFAULT_CFG` with the LayerNorm inputs off, the 0.98-cosine row of the README) when
  /// it has been fetched. The debug build runs MiniLM slowly, so on few sentences: calibration on
  /// the first 8 corpus sentences, the check on the first 8 eval sentences (the release command
  /// line checks all 500: README, "Export").
  @Test func bertModels() throws {
    try FileManager.default.createDirectory(at: Self.out, withIntermediateDirectories: true)
    let tiny = try ONNXBertTests.quantizedTiny()
    try Self.writeBert("bert_tiny_int8", tiny, batch: ONNXBertTests.batch(count: 16, seed: 99))
    guard let directory = MiniLM.locate() else {
      print("ONNXRuntimeArtifacts: MiniLM skipped: \(MiniLM.missingHint)")
      return
    }
    let resources = Examples.packageRoot.appendingPathComponent("Sources/qatkit-run/Resources/minilm")
    func lines(_ file: String, _ n: Int) throws -> [String] {
      Array(try String(contentsOf: resources.appendingPathComponent(file), encoding: .utf8)
        .split(separator: "\n").map(String.init).filter { !$0.isEmpty }.prefix(n))
    }
    let tokenizer = try BertTokenizer(directory: directory)
    let texts = tokenizer.batch(try lines("eval.txt", 8))
    let model = try BertModel.load(directory: directory)
    let fp32 = try Self.writeBert("minilm_fp32", model, batch: texts, quantized: false)
    let calibration = tokenizer.batch(try lines("corpus_train.txt", 8)).packed
    try convert(model, modes: [.quantize(BertQuantization.config(.int8NoLayerNorm))], forwardLoop: { m in _ = m(calibration) })
    try Self.writeBert("minilm_int8", model, batch: texts, fp32: fp32)
  }

  @discardableResult
  static func writeBert(_ name: String, _ model: BertModel, batch: TokenBatch, fp32: Tensor? = nil, quantized: Bool = true) throws -> Tensor {
    try ONNXExporter.standardWithBert.write(
      model, to: out.appendingPathComponent("\(name).onnx"), inputs: ONNXExporter.bertInputs,
      outputName: ONNXExporter.bertOutputName(model), overwrite: true, requireQuantizers: quantized)
    return try model.writeEmbeddingReference(
      batch: batch, fp32Embeddings: fp32, metadata: ["model": name], to: out.appendingPathComponent("\(name).reference.safetensors"))
  }
}
