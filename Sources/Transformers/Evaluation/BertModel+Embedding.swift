import QATKit

extension BertModel {
  /// The model's output (``output``, by default the sentence embedding) for every text, in
  /// order, computed in evaluation mode without gradients, `batchSize` texts at a time (each
  /// batch padded to its longest text). The model's training flag is restored afterwards.
  ///
  /// - Parameter progress: Called after each batch with the number of texts done.
  /// - Returns: `[texts.count, hidden]`.
  public func embed(
    _ texts: [String], tokenizer: BertTokenizer, batchSize: Int = 64, progress: ((Int) -> Void)? = nil
  ) -> Tensor {
    precondition(batchSize > 0, "embed: batchSize must be positive")
    precondition(output != .lastHiddenState, "embed: the model's output is the hidden state, not an embedding")
    let wasTraining = training
    eval()
    defer { if wasTraining { train() } }
    var rows: [Float] = []
    rows.reserveCapacity(texts.count * config.hiddenSize)
    var start = 0
    while start < texts.count {
      let end = Swift.min(texts.count, start + batchSize)
      let batch = tokenizer.batch(Array(texts[start..<end]))
      rows += Tensor.withoutGrad { self(batch.packed) }.scalars
      start = end
      progress?(end)
    }
    return try! Tensor(rows, shape: [texts.count, config.hiddenSize])
  }
}
