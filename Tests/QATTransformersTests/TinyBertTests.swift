import Foundation
import Synchronization
import Testing

import QATKit
import QATPluginTesting
import QATTestSupport
import QATTransformers

/// A tiny BERT (no download needed): gradients by finite differences through embeddings,
/// masked attention, GELU, LayerNorms, pooling and normalization; padding invariance; names.
@Suite("Tiny BERT")
struct TinyBertTests {
  static func tinyConfig(layers: Int = 2) throws -> BertConfig {
    try BertConfig(
      vocabSize: 11, hiddenSize: 4, numHiddenLayers: layers, numAttentionHeads: 2, intermediateSize: 6,
      maxPositionEmbeddings: 8, typeVocabSize: 2, layerNormEps: 1e-12, hiddenDropoutProb: 0.1,
      attentionProbsDropoutProb: 0.1)
  }

  /// Two sentences of 5 and 3 tokens, padded to 5.
  static let batch = TokenBatch([Encoding(ids: [1, 5, 7, 3, 2]), Encoding(ids: [1, 9, 2])])

  /// Weights large enough that every layer matters (N(0, 0.02) would make the check trivial).
  static func model(seed: UInt64, output: BertModel.Output, layers: Int = 2) throws -> BertModel {
    let m = BertModel(config: try tinyConfig(layers: layers), initialization: .random(seed: seed))
    var rng = RandomGenerator(seed: seed &+ 77)
    for p in m.parameters() {
      try p.assign(Tensor.randn(p.shape, std: 0.5, using: &rng) + (p.rank == 1 ? 1 : 0))
    }
    m.output = output
    m.eval()
    return m
  }

  @Test("gradients of every parameter match finite differences (masked batch, one layer)")
  func gradients() throws {
    let m = try Self.model(seed: 3, output: .sentenceEmbedding, layers: 1)
    let x = Self.batch.packed
    // Embedding tables: only looked-up rows get gradients; checked like every other tensor.
    let report = GradientCheck.check(m.parameters(), h: 1e-2, atol: 2e-3, rtol: 2e-2) { m(x) }
    #expect(report.passed, "\(report)")
  }

  @Test("a sentence's embedding does not depend on the padding of its batch")
  func paddingInvariance() throws {
    let m = try Self.model(seed: 5, output: .sentenceEmbedding)
    let alone = m(TokenBatch([Encoding(ids: [1, 9, 2])]).packed).scalars
    let padded = m(Self.batch.packed).scalars
    let close = allClose(Array(padded[4..<8]), alone, atol: 1e-6, rtol: 1e-5)
    #expect(close, "\(Array(padded[4..<8])) vs \(alone)")
    let norm = alone.map { $0 * $0 }.reduce(0, +)
    #expect(Swift.abs(norm - 1) < 1e-5)
  }

  @Test("one model in evaluation mode runs on several threads at once, each batch with its own padding mask")
  func concurrentForwards() throws {
    let m = try Self.model(seed: 8, output: .sentenceEmbedding)
    let batches = [
      Self.batch.packed,  // padded: a [2, 5] key mask
      TokenBatch([Encoding(ids: [1, 4, 2])]).packed,  // no padding: no mask
      TokenBatch([Encoding(ids: [1, 6, 8, 2]), Encoding(ids: [1, 2]), Encoding(ids: [1, 3, 2])]).packed,  // [3, 4]
    ]
    let expected = batches.map { m($0).scalars }
    nonisolated(unsafe) let (model, inputs) = (m, batches)
    let results = Mutex([[Float]?](repeating: nil, count: 240))
    DispatchQueue.concurrentPerform(iterations: 240) { i in
      let y = model(inputs[i % inputs.count]).scalars
      results.withLock { $0[i] = y }
    }
    let got = results.withLock { $0 }
    let wrong = got.indices.filter { got[$0] != expected[$0 % expected.count] }
    #expect(wrong.isEmpty, "\(wrong.count) of 240 concurrent forwards differ from the serial ones")
  }

  @Test("training mode applies dropout; evaluation mode is deterministic")
  func dropout() throws {
    let m = try Self.model(seed: 6, output: .sentenceEmbedding)
    let x = Self.batch.packed
    let a = m(x).scalars
    #expect(m(x).scalars == a)
    m.train()
    #expect(m(x).scalars != a)
    m.eval()
    #expect(m(x).scalars == a)
  }

  @Test("module and parameter names are PyTorch's BertModel names")
  func names() throws {
    let m = BertModel(config: try Self.tinyConfig(layers: 1))
    let names = m.namedParameters().map(\.0)
    #expect(names == [
      "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
      "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
      "encoder.layer.0.attention.self.query.weight", "encoder.layer.0.attention.self.query.bias",
      "encoder.layer.0.attention.self.key.weight", "encoder.layer.0.attention.self.key.bias",
      "encoder.layer.0.attention.self.value.weight", "encoder.layer.0.attention.self.value.bias",
      "encoder.layer.0.attention.output.dense.weight", "encoder.layer.0.attention.output.dense.bias",
      "encoder.layer.0.attention.output.LayerNorm.weight", "encoder.layer.0.attention.output.LayerNorm.bias",
      "encoder.layer.0.intermediate.dense.weight", "encoder.layer.0.intermediate.dense.bias",
      "encoder.layer.0.output.dense.weight", "encoder.layer.0.output.dense.bias",
      "encoder.layer.0.output.LayerNorm.weight", "encoder.layer.0.output.LayerNorm.bias",
      "pooler.dense.weight", "pooler.dense.bias",
    ])
  }

  @Test("config.json is validated: unsupported activations, bad sizes and wrong types are errors")
  func configErrors() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qatkit-cfg-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let url = dir.appendingPathComponent("config.json")
    let good = #"{"model_type": "bert", "hidden_act": "gelu", "vocab_size": 11, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 6}"#
    try good.write(to: url, atomically: true, encoding: .utf8)
    #expect(try BertConfig(contentsOf: url).headSize == 2)
    let bad: [(String, String)] = [
      (good.replacingOccurrences(of: #""gelu""#, with: #""relu""#), "hidden_act"),
      (good.replacingOccurrences(of: #""num_attention_heads": 2"#, with: #""num_attention_heads": 3"#), "num_attention_heads"),
      (good.replacingOccurrences(of: #""hidden_size": 4"#, with: #""hidden_size": "4""#), "hidden_size"),
      (good.replacingOccurrences(of: #""vocab_size": 11, "#, with: ""), "vocab_size"),
      (good.replacingOccurrences(of: #""vocab_size": 11"#, with: #""vocab_size": -1"#), "vocab_size"),
      (good.replacingOccurrences(of: #""model_type": "bert""#, with: #""model_type": "gpt2""#), "model_type"),
      ("[1, 2]", "JSON object"),
    ]
    for (text, key) in bad {
      try text.write(to: url, atomically: true, encoding: .utf8)
      do {
        _ = try BertConfig(contentsOf: url)
        Issue.record("accepted a config with a bad \(key)")
      } catch let e as TransformersError {
        #expect(e.description.contains(key), "\(e)")
      }
    }
  }

  @Test("weights load strictly by name: missing, unexpected and mis-shaped tensors are reported")
  func strictWeights() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qatkit-w-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let source = try Self.model(seed: 9, output: .sentenceEmbedding)
    let url = dir.appendingPathComponent("model.safetensors")
    try source.saveSafeTensors(to: url)
    let target = BertModel(config: try Self.tinyConfig())
    try target.loadWeights(from: url)
    target.eval()
    #expect(target(Self.batch.packed).scalars == source(Self.batch.packed).scalars)
    // A model without a pooler does not accept a file with one.
    let noPooler = BertModel(config: try Self.tinyConfig(), pooler: false)
    do {
      try noPooler.loadWeights(from: url)
      Issue.record("unexpected pooler tensors were accepted")
    } catch let e as TransformersError {
      #expect(e.description.contains("unexpected keys: pooler.dense.bias, pooler.dense.weight"), "\(e)")
    }
    let wider = BertModel(config: try BertConfig(
      vocabSize: 12, hiddenSize: 4, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 6, maxPositionEmbeddings: 8))
    do {
      try wider.loadWeights(from: url)
      Issue.record("a mis-shaped table was accepted")
    } catch let e as TransformersError {
      #expect(e.description.contains("embeddings.word_embeddings.weight"), "\(e)")
    }
  }
}
