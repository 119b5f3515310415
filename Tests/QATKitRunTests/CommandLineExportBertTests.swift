import Foundation
import QATKit
import QATRegistry
import QATTestSupport
import QATTransformers
import Testing

/// `qatkit-run export` of a BERT checkpoint as a process, on a tiny random BERT in a model
/// directory of its own (`--model DIR`): ONNX and unified (with the directory's `config.json`
/// mirrored), and the BERT-specific errors. all-MiniLM-L6-v2 goes the same way (README, "Export").
@Suite("qatkit-run: export a BERT")
struct CommandLineExportBertTests {
  /// A model directory (config.json, vocab.txt, model.safetensors) and an INT8 W8A8 checkpoint of it.
  static func tinyBert(in dir: URL) throws -> (model: URL, checkpoint: URL) {
    let modelDir = dir.appendingPathComponent("tiny-bert")
    try FileManager.default.createDirectory(at: modelDir, withIntermediateDirectories: true)
    try """
      {"model_type": "bert", "vocab_size": 40, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
       "intermediate_size": 64, "max_position_embeddings": 16, "hidden_act": "gelu", "architectures": ["BertModel"]}
      """.write(to: modelDir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    try (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (5..<40).map { "w\($0)" }).joined(separator: "\n")
      .write(to: modelDir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
    let config = try BertConfig(contentsOf: modelDir.appendingPathComponent("config.json"))
    let m = BertModel(config: config, initialization: .random(seed: 5))
    try SafeTensors.write(
      floats: m.stateDict().map { (name: $0.0, shape: $0.1.shape, values: $0.1.scalars) }, to: modelDir.appendingPathComponent("model.safetensors"))
    m.eval()
    let batch = TokenBatch([Encoding(ids: [2, 7, 9, 3]), Encoding(ids: [2, 11, 12, 13, 14, 3])]).packed
    try convert(m, modes: [.quantize(BertQuantization.config(.int8NoLayerNorm))], forwardLoop: { m in _ = m(batch) })
    let checkpoint = dir.appendingPathComponent("bert-int8.safetensors")
    try save(m, to: checkpoint)
    return (modelDir, checkpoint)
  }

  @Test func onnxAndUnified() throws {
    let dir = ToolProcess.workingDirectory()
    let (model, checkpoint) = try Self.tinyBert(in: dir)
    let onnx = try ToolProcess.run(["export", checkpoint.path, "--format", "onnx", "--output", "bert.onnx", "--model", model.path], in: dir)
    #expect(onnx.status == 0, "\(onnx.stderr)")
    #expect(onnx.stdout.contains("opset 17") && onnx.stdout.contains("QuantizeLinear"), "\(onnx.stdout)")
    let bytes = (try? FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("bert.onnx").path)[.size] as? Int) ?? 0
    #expect(bytes > 10_000)

    let unified = try ToolProcess.run(["export", checkpoint.path, "--format", "unified", "--output", "bert-unified", "--model", model.path], in: dir)
    #expect(unified.status == 0, "\(unified.stderr)")
    let config = try String(contentsOf: dir.appendingPathComponent("bert-unified/config.json"), encoding: .utf8)
    #expect(config.contains("\"quantization_config\"") && config.contains("W8A8_SQ_PER_CHANNEL") && config.contains("\"hidden_size\""), "\(config)")
  }

  @Test func errors() throws {
    let dir = ToolProcess.workingDirectory()
    let (model, checkpoint) = try Self.tinyBert(in: dir)
    let cases: [(args: [String], message: String)] = [
      (["export", checkpoint.path, "--format", "onnx", "--output", "q.onnx", "--model", model.path, "--quantize", "int8"],
       "quantize a BERT with qatkit-run minilm"),
      (["export", checkpoint.path, "--format", "onnx", "--output", "q.onnx", "--model", dir.path], "is not a model directory"),
    ]
    for c in cases {
      let r = try ToolProcess.run(c.args, in: dir)
      #expect(r.status == 2, "\(c.args): exit \(r.status), stderr \(r.stderr)")
      #expect(r.stderr.contains(c.message), "\(c.args): \(r.stderr)")
      #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("q.onnx").path))
    }
  }
}
