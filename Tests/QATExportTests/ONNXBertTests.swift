import Foundation
import QATKit
import QATRegistry
import QATTransformers
import Testing
@testable import QATExport

/// The BERT emitters that QATTransformers registers with the exporter: graph structure, every
/// quantizer of the forward pass as Q/DQ, the padding mask, and the errors. (onnxruntime runs
/// these graphs in `.ci/run`: `ONNXRuntimeArtifacts`.)
@Suite("ONNX export: BERT") struct ONNXBertTests {
  static let config = try! BertConfig(
    vocabSize: 40, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 64, maxPositionEmbeddings: 16)

  /// Sequences of random ids with lengths 3…`maxLength` (a padded batch).
  static func batch(count: Int, maxLength: Int = 12, seed: UInt64) -> TokenBatch {
    var rng = RandomGenerator(seed: seed)
    return TokenBatch((0..<count).map { _ in
      Encoding(ids: (0..<Int.random(in: 3...maxLength, using: &rng)).map { _ in Int.random(in: 1..<40, using: &rng) })
    })
  }

  /// A tiny random BERT, INT8 W8A8 as `INT8_DEFAULT_CFG` (LayerNorm inputs too) plus the four
  /// attention matmul quantizers, max-calibrated on padded batches.
  static func quantizedTiny(seed: UInt64 = 3) throws -> BertModel {
    let m = BertModel(config: config, initialization: .random(seed: seed))
    m.eval()
    let calibration = (0..<2).map { batch(count: 8, seed: 10 + UInt64($0)).packed }
    let cfg = BertQuantization.config(.int8).adding("*bmm_quantizer", .int(8))
    try convert(m, modes: [.quantize(cfg)], forwardLoop: { m in for b in calibration { _ = m(b) } })
    return m
  }

  @Test func quantizedGraph() throws {
    let m = try Self.quantizedTiny()
    let g = try ONNXExporter.standardWithBert.graph(for: m, inputs: ONNXExporter.bertInputs, outputName: "sentence_embedding")
    #expect(g.opset == 17)  // LayerNormalization
    #expect(g.graph.inputs == ONNXExporter.bertInputs)
    #expect(g.graph.outputs == [ONNXValueInfo(name: "sentence_embedding", elementType: .float, shape: [.param("N"), .value(32)])])
    let counts = g.graph.nodes.reduce(into: [String: Int]()) { $0[$1.opType, default: 0] += 1 }
    // Every enabled quantizer outside the pooler (whose output no embedding uses) is in the graph:
    // each activation quantizer as one Q/DQ pair, each weight quantizer as codes + DequantizeLinear.
    let enabled = m.namedQuantizers().filter { $0.1.isEnabled && !$0.0.hasPrefix("pooler.") }
    let weights = enabled.filter { $0.0.hasSuffix("weight_quantizer") }.count
    let activations = enabled.count - weights
    #expect(weights == 12 && activations == 12 + 5 + 8)  // Linear inputs, LayerNorm inputs, 4 bmm per layer
    #expect(counts["QuantizeLinear"] == activations)
    #expect(counts["DequantizeLinear"] == activations + weights)
    #expect(counts["LayerNormalization"] == 5 && counts["Softmax"] == 2 && counts["Erf"] == 2)
    #expect(counts["Range"] == 1 && counts["Gather"] == 4)  // positions 0..<T; word, type, position tables and T
    #expect(!g.graph.initializers.contains { $0.name.hasPrefix("pooler") })
    #expect(g.graph.initializers.contains { $0.name == "encoder.layer.1.attention.self.query.weight_quantized" && $0.dataType == .int8 })
    // The padding mask reaches every softmax through an Add of the shared key bias.
    let maskBias = g.graph.nodes.first { $0.opType == "Reshape" && $0.name.hasPrefix("Reshape") }!.outputs[0]
    #expect(g.graph.nodes.filter { $0.opType == "Add" && $0.inputs.contains(maskBias) }.count == 2)
    #expect(try ONNXModel(bytes: g.serialized()) == g)
  }

  @Test func outputsAndFloatGraph() throws {
    let m = BertModel(config: Self.config, pooler: false, initialization: .random(seed: 1))
    #expect(throws: ExportError.self) {
      try ONNXExporter.standardWithBert.graph(for: m, inputs: ONNXExporter.bertInputs, outputName: "sentence_embedding")
    }
    let fp32 = try ONNXExporter.standardWithBert.graph(
      for: m, inputs: ONNXExporter.bertInputs, outputName: "sentence_embedding", requireQuantizers: false)
    #expect(!fp32.graph.nodes.contains { $0.opType.hasSuffix("QuantizeLinear") })
    m.output = .lastHiddenState
    #expect(ONNXExporter.bertOutputName(m) == "last_hidden_state")
    let hidden = try ONNXExporter.standardWithBert.graph(
      for: m, inputs: ONNXExporter.bertInputs, outputName: "last_hidden_state", requireQuantizers: false)
    #expect(hidden.graph.outputs[0].shape == [.param("N"), .param("d1"), .value(32)])
    #expect(!hidden.graph.nodes.contains { $0.opType == "ReduceSum" })
  }

  @Test func errors() throws {
    let m = try Self.quantizedTiny()
    // Without the mask input.
    #expect {
      try ONNXExporter.standardWithBert.graph(for: m, inputs: [ONNXExporter.bertInputs[0]], outputName: "sentence_embedding")
    } throws: { ($0 as? ExportError)?.description.contains("attention_mask") == true }
    // The standard exporter has no BERT emitters and says how to add them.
    #expect {
      try ONNXExporter.standard.graph(for: m, inputs: ONNXExporter.bertInputs, outputName: "sentence_embedding")
    } throws: { ($0 as? ExportError)?.description.contains("no ONNX emitter for BertModel") == true }
    // Dynamic activation ranges have no Q/DQ form: named by layer.
    let dyn = BertModel(config: Self.config, initialization: .random(seed: 2))
    try convert(dyn, modes: [.quantize(BertQuantization.config(.nvfp4))], forwardLoop: { m in _ = m(Self.batch(count: 2, seed: 1).packed) })
    #expect {
      try ONNXExporter.standardWithBert.graph(for: dyn, inputs: ONNXExporter.bertInputs, outputName: "sentence_embedding")
    } throws: { ($0 as? ExportError)?.description.contains("embeddings.LayerNorm") == true }
    // The reference writer refuses a hidden-state output.
    m.output = .lastHiddenState
    #expect(throws: TransformersError.self) { try m.writeEmbeddingReference(batch: Self.batch(count: 2, seed: 1), to: tempURL("r.safetensors")) }
  }
}
