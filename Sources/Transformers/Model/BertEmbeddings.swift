import QATKit

/// BERT's input embeddings: word + token type (all 0) + absolute position, then LayerNorm
/// and dropout. Children in PyTorch's names: `word_embeddings`, `position_embeddings`,
/// `token_type_embeddings`, `LayerNorm`, `dropout`.
///
/// The embedding tables are QATKit ``Embedding`` layers, so their quantizer paths are
/// ModelOpt's (`embeddings.word_embeddings.weight_quantizer`); ModelOpt's default configs
/// disable them (`parent_class: nn.Embedding`), and so do ``BertQuantization``'s configs.
public final class BertEmbeddings: Module {
  /// `[vocab, hidden]`.
  public let wordEmbeddings: Embedding
  /// `[maxPositions, hidden]`.
  public let positionEmbeddings: Embedding
  /// `[typeVocab, hidden]`.
  public let tokenTypeEmbeddings: Embedding
  /// Normalization of the sum.
  public let layerNorm: BertLayerNorm
  /// Dropout after the normalization (training mode only).
  public let dropout: Dropout

  /// Creates the embeddings (tables N(0, 0.02) for a random initialization).
  public init(config: BertConfig, initialization: BertInitialization = .random(seed: 0)) {
    wordEmbeddings = initialization.child(1).embedding(config.vocabSize, config.hiddenSize)
    positionEmbeddings = initialization.child(2).embedding(config.maxPositionEmbeddings, config.hiddenSize)
    tokenTypeEmbeddings = initialization.child(3).embedding(config.typeVocabSize, config.hiddenSize)
    layerNorm = BertLayerNorm(config.hiddenSize, eps: config.layerNormEps)
    dropout = Dropout(p: config.hiddenDropoutProb, seed: initialization.seed(4))
  }

  /// PyTorch's names.
  public override func children() -> [(String, Module)] {
    [("word_embeddings", wordEmbeddings), ("position_embeddings", positionEmbeddings),
     ("token_type_embeddings", tokenTypeEmbeddings), ("LayerNorm", layerNorm), ("dropout", dropout)]
  }

  /// Token ids `[B, T]` (integers as `Float`, below the vocabulary size) → `[B, T, hidden]`.
  public override func forward(_ ids: Tensor) -> Tensor {
    precondition(ids.rank == 2, "BertEmbeddings: ids must be [batch, tokens], got \(ids.shape)")
    let t = ids.shape[1]
    precondition(t <= positionEmbeddings.weight.shape[0],
                 "BertEmbeddings: \(t) tokens exceed the \(positionEmbeddings.weight.shape[0]) positions")
    let words = wordEmbeddings(ids)
    // Token type 0 everywhere: one row, broadcast (the same values and gradient as a lookup per token).
    let tokenType = tokenTypeEmbeddings(Tensor(shape: [1], storage: [0]))
    let positions = positionEmbeddings(Tensor(shape: [t], storage: (0..<t).map(Float.init)))
    return dropout(layerNorm(words + tokenType + positions))
  }
}
