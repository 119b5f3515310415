public import Foundation
public import QATKit

extension BertModel {
  /// Writes what an ONNX runtime check compares against (`scripts/check_onnx.py`): `texts`
  /// tokenized as one batch (`input_ids`, `attention_mask`, int64 `[N, T]`, padded to the
  /// longest), this model's embeddings of them (`embeddings` `[N, hidden]`, computed by
  /// ``embed(_:tokenizer:batchSize:progress:)`` in batches of 64) and, when given, the
  /// unquantized model's (`fp32_embeddings`), so a runtime's quantized embeddings can be
  /// scored against FP32 as QATKit's are. Metadata: `kind` `sentence_embedding`, `sentences`.
  ///
  /// - Returns: This model's embeddings `[texts.count, hidden]`.
  /// - Throws: ``TransformersError/invalidInput(_:)`` for no texts or an output that is not an
  ///   embedding; the safetensors writer's errors.
  @discardableResult
  public func writeEmbeddingReference(
    texts: [String], tokenizer: BertTokenizer, fp32: BertModel? = nil, metadata: [String: String] = [:], to url: URL
  ) throws -> Tensor {
    guard !texts.isEmpty else { throw TransformersError.invalidInput("the embedding reference needs at least one text") }
    try checkEmbeddingOutputs(fp32)
    let embeddings = embed(texts, tokenizer: tokenizer)
    try Self.writeReference(
      tokenizer.batch(texts), embeddings, fp32?.embed(texts, tokenizer: tokenizer), metadata: metadata, to: url)
    return embeddings
  }

  /// ``writeEmbeddingReference(texts:tokenizer:fp32:metadata:to:)`` for a batch of token ids
  /// (e.g. random ids for a model without a vocabulary), run as one batch in evaluation mode;
  /// `fp32Embeddings` are the unquantized model's embeddings of the same batch, if wanted.
  @discardableResult
  public func writeEmbeddingReference(
    batch: TokenBatch, fp32Embeddings: Tensor? = nil, metadata: [String: String] = [:], to url: URL
  ) throws -> Tensor {
    guard batch.count > 0 else { throw TransformersError.invalidInput("the embedding reference needs at least one sequence") }
    try checkEmbeddingOutputs(nil)
    guard fp32Embeddings.map({ $0.shape == [batch.count, config.hiddenSize] }) ?? true else {
      throw TransformersError.invalidInput("fp32Embeddings must be [\(batch.count), \(config.hiddenSize)], got \(fp32Embeddings!.shape)")
    }
    let wasTraining = training
    eval()
    defer { if wasTraining { train() } }
    let embeddings = Tensor.withoutGrad { self(batch) }
    try Self.writeReference(batch, embeddings, fp32Embeddings, metadata: metadata, to: url)
    return embeddings
  }

  private func checkEmbeddingOutputs(_ fp32: BertModel?) throws {
    guard output != .lastHiddenState, fp32.map({ $0.output == output }) ?? true else {
      throw TransformersError.invalidInput("the embedding reference needs models whose output is the same embedding (not the hidden state)")
    }
  }

  private static func writeReference(
    _ batch: TokenBatch, _ embeddings: Tensor, _ fp32: Tensor?, metadata: [String: String], to url: URL
  ) throws {
    let shape = [batch.count, batch.length]
    var tensors = try SafeTensors.encode(
      floats: [("input_ids", shape, batch.ids.joined().map(Float.init)), ("attention_mask", shape, batch.attentionMask.joined().map(Float.init))],
      as: .i64)
    tensors += try SafeTensors.encode(floats: [("embeddings", embeddings.shape, embeddings.scalars)], as: .f32)
    if let fp32 { tensors += try SafeTensors.encode(floats: [("fp32_embeddings", fp32.shape, fp32.scalars)], as: .f32) }
    var meta = metadata
    meta["kind"] = "sentence_embedding"
    meta["sentences"] = String(batch.count)
    try SafeTensors.write(tensors, metadata: meta, to: url)
  }
}
