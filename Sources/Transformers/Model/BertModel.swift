import QATKit

/// A BERT encoder with PyTorch's module names (`embeddings.word_embeddings`,
/// `encoder.layer.0.attention.self.query`, ..., `pooler.dense`), so HuggingFace checkpoints
/// load strictly by name and quantizer paths are ModelOpt's
/// (`encoder.layer.0.attention.self.query.weight_quantizer`).
///
/// **Input.** QATKit modules take one tensor (the `quantize` mode's forward loop, distillation
/// and checkpoints rely on it), so the model takes a packed batch `[N, 2, T]`: row 0 the token
/// ids, row 1 the attention mask (1 = token, 0 = padding), as `Float` (ids are exact below
/// 2^24). Build it with ``TokenBatch/packed`` from ``BertTokenizer/batch(_:)``. Token types are
/// all 0 (single sentences).
///
/// **Output** (``output``): the sentence embedding of sentence-transformers models such as
/// all-MiniLM-L6-v2 — the last hidden state averaged over real tokens, then L2-normalized —
/// `[N, hidden]`; or the last hidden state `[N, T, hidden]`.
///
/// Padding is masked in attention (masked keys get probability 0) and in pooling, so a
/// sentence's embedding does not depend on how much its batch was padded.
///
/// Training mode (the QATKit default for a new module) enables dropout; ``load(directory:)``
/// returns the model in evaluation mode, as HuggingFace does.
///
/// **Threads.** The padding mask is bound to the calling task (``AttentionMaskContext``), not
/// stored on the model, so an unquantized model in evaluation mode may run on several threads
/// at once, each on its own batch. Training, calibration, quantizers and changes to the model
/// need one thread at a time, as for any `Module`.
public final class BertModel: Module {
  /// What ``forward(_:)`` returns.
  public enum Output: Sendable, Hashable {
    /// Masked mean over tokens, then L2 normalization: `[N, hidden]`.
    case sentenceEmbedding
    /// The masked mean without normalization: `[N, hidden]`.
    case meanPooled
    /// The last hidden state: `[N, T, hidden]`.
    case lastHiddenState
  }

  /// The architecture.
  public let config: BertConfig
  /// `embeddings`.
  public let embeddings: BertEmbeddings
  /// `encoder`.
  public let encoder: BertEncoder
  /// `pooler`, when the checkpoint has one (HuggingFace's `BertModel` computes it on every
  /// call; it is run here too, so its quantizers calibrate as in ModelOpt, but no output uses it).
  public let pooler: BertPooler?
  /// What ``forward(_:)`` returns (default: the sentence embedding).
  public var output: Output = .sentenceEmbedding
  /// The key mask of the batch being run, shared by the attention layers.
  public let maskContext = AttentionMaskContext()

  /// Creates a model; `initialization` defaults to HuggingFace's random one (weights
  /// N(0, 0.02)); ``load(directory:)`` starts from zeros and loads the checkpoint.
  public init(config: BertConfig, pooler: Bool = true, initialization: BertInitialization = .random(seed: 0)) {
    self.config = config
    embeddings = BertEmbeddings(config: config, initialization: initialization.child(1))
    encoder = BertEncoder(config: config, maskContext: maskContext, initialization: initialization.child(10_000))
    self.pooler = pooler ? BertPooler(config: config, initialization: initialization.child(2)) : nil
  }

  /// PyTorch's names.
  public override func children() -> [(String, Module)] {
    var c: [(String, Module)] = [("embeddings", embeddings), ("encoder", encoder)]
    if let pooler { c.append(("pooler", pooler)) }
    return c
  }

  /// A packed batch `[N, 2, T]` (ids, mask) → see ``output``.
  public override func forward(_ packed: Tensor) -> Tensor {
    // Module.forward cannot throw: a malformed batch (TokenBatch.packed never makes one) stops
    // here, with the message Int8BertModel throws for the same input.
    let batch: PackedTokenBatch
    do { batch = try PackedTokenBatch(packed, config: config, model: "BertModel") } catch { preconditionFailure("\(error)") }
    let (n, t, ids, mask) = (batch.sentences, batch.tokens, batch.ids, batch.mask)
    let maskTensor = Tensor(shape: [n, t], storage: mask)
    let hidden = maskContext.withKeyMask(batch.hasPadding ? maskTensor : nil) {
      encoder(embeddings(Tensor(shape: [n, t], storage: ids)))
    }
    if let pooler { _ = pooler(hidden) }
    switch output {
    case .lastHiddenState: return hidden
    case .meanPooled: return hidden.maskedMeanOverTokens(maskTensor)
    case .sentenceEmbedding: return hidden.maskedMeanOverTokens(maskTensor).l2NormalizedRows()
    }
  }

  /// Runs the model on a tokenized batch (see ``output``).
  public func callAsFunction(_ batch: TokenBatch) -> Tensor { self(batch.packed) }
}
