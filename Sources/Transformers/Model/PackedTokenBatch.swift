import QATKit

/// A packed batch `[N, 2, T]` (ids, mask; ``TokenBatch/packed``) split into its token ids and
/// attention mask, checked against a model's configuration: the one place ``BertModel`` and
/// ``Int8BertModel`` read their input.
struct PackedTokenBatch {
  /// N.
  let sentences: Int
  /// T.
  let tokens: Int
  /// The ids, `[N·T]` row-major, each an integer below the vocabulary size.
  let ids: [Float]
  /// The attention mask, `[N·T]` row-major (1 = token, 0 = padding).
  let mask: [Float]

  /// Whether some position is padding (the attention then needs the key mask).
  var hasPadding: Bool { !mask.allSatisfy { $0 != 0 } }

  /// Splits and checks `packed` for a model with `config`; `model` names the caller in messages.
  ///
  /// - Throws: ``TransformersError/invalidInput(_:)`` for a tensor that is not `[N, 2, T]`, an
  ///   empty batch, more tokens than the model has positions, or ids that are not integers in
  ///   `0..<vocabSize`.
  init(_ packed: Tensor, config: BertConfig, model: String) throws(TransformersError) {
    guard packed.rank == 3, packed.shape[1] == 2 else {
      throw .invalidInput("\(model) takes a packed batch [N, 2, T] (ids, mask), got \(packed.shape); use TokenBatch.packed")
    }
    let (n, t) = (packed.shape[0], packed.shape[2])
    guard n > 0, t > 0 else { throw .invalidInput("an empty batch \(packed.shape): give at least one sentence of one token") }
    let positions = config.maxPositionEmbeddings
    guard t <= positions else { throw .invalidInput("\(t) tokens exceed the model's \(positions) positions") }
    let values = packed.storage
    var ids = [Float](repeating: 0, count: n * t), mask = ids
    for i in 0..<n {
      for j in 0..<t {
        ids[i * t + j] = values[(2 * i) * t + j]
        mask[i * t + j] = values[(2 * i + 1) * t + j]
      }
    }
    let vocab = Float(config.vocabSize)
    guard ids.allSatisfy({ $0 >= 0 && $0 < vocab && $0.rounded() == $0 }) else {
      throw .invalidInput("\(model): token ids must be integers in 0..<\(config.vocabSize)")
    }
    (sentences, tokens, self.ids, self.mask) = (n, t, ids, mask)
  }
}
