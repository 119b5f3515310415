import QATKit

/// BERT's multi-head self-attention (`attention.self`): `query`, `key`, `value` projections,
/// scaled dot-product attention with the padding mask, dropout on the probabilities.
///
/// Quantizer slots, ModelOpt's `_QuantAttention` names: `q_bmm_quantizer`, `k_bmm_quantizer`,
/// `v_bmm_quantizer` on the projected query/key/value (applied on `[B, T, H·dh]`, so per-tensor
/// ranges equal ModelOpt's per-head layout) and `p_bmm_quantizer` on the probabilities. The
/// default configs leave them empty.
///
/// Heads are never permuted into a separate layout: ``QATKit/Tensor/attentionScores(query:key:heads:)``
/// and ``QATKit/Tensor/attentionContext(probabilities:value:heads:)`` read each head's columns in
/// place, and the softmax is one fused, masked kernel.
public final class BertSelfAttention: Module {
  /// Query projection.
  public let query: Linear
  /// Key projection.
  public let key: Linear
  /// Value projection.
  public let value: Linear
  /// Dropout on the attention probabilities.
  public let dropout: Dropout
  /// Number of heads.
  public let heads: Int
  /// Where the batch's key mask comes from.
  public let maskContext: AttentionMaskContext

  /// Creates the layer.
  public init(config: BertConfig, maskContext: AttentionMaskContext, initialization: BertInitialization = .random(seed: 0)) {
    let d = config.hiddenSize
    query = initialization.child(1).linear(d, d)
    key = initialization.child(2).linear(d, d)
    value = initialization.child(3).linear(d, d)
    dropout = Dropout(p: config.attentionProbsDropoutProb, seed: initialization.seed(4))
    heads = config.numAttentionHeads
    self.maskContext = maskContext
  }

  /// PyTorch's names.
  public override func children() -> [(String, Module)] {
    [("query", query), ("key", key), ("value", value), ("dropout", dropout)]
  }

  /// ModelOpt's attention matmul quantizer slots.
  public override class var quantizerSlotNames: [String] {
    ["q_bmm_quantizer", "k_bmm_quantizer", "v_bmm_quantizer", "p_bmm_quantizer"]
  }

  /// `[B, T, D]` → the attention context `[B, T, D]` (heads side by side).
  public override func forward(_ x: Tensor) -> Tensor {
    let d = x.shape[x.rank - 1]
    // INT8 projections while training: one input quantization and one set of codes for all three.
    let qkv = Linear.integerForward(sharingInput: [query, key, value], x) ?? [query(x), key(x), value(x)]
    let q = quantize(qkv[0], slot: "q_bmm_quantizer")
    let k = quantize(qkv[1], slot: "k_bmm_quantizer")
    let v = quantize(qkv[2], slot: "v_bmm_quantizer")
    let scale = 1 / Float(d / heads).squareRoot()
    var p = Tensor.attentionScores(query: q, key: k, heads: heads).maskedSoftmax(scale: scale, keyMask: maskContext.keyMask)
    p = quantize(dropout(p), slot: "p_bmm_quantizer")
    return Tensor.attentionContext(probabilities: p, value: v, heads: heads)
  }
}
