/// Multi-head self-attention over `[batch, tokens, dim]`.
///
/// Children `query`, `key`, `value`, `out` are ``Linear`` layers. Quantizer slots cover the two
/// attention matmuls, in ModelOpt's naming: `q_bmm_quantizer` and `k_bmm_quantizer` on the
/// operands of query·keyᵀ, `p_bmm_quantizer` (the attention probabilities) and
/// `v_bmm_quantizer` on the operands of attention·value.
public final class MultiHeadAttention: Module {
  /// Query projection.
  @Child public var query: Linear
  /// Key projection.
  @Child public var key: Linear
  /// Value projection.
  @Child public var value: Linear
  /// Output projection.
  @Child public var out: Linear
  /// Number of heads.
  public let heads: Int

  /// Creates attention with `heads` heads over `dim` features (`dim % heads == 0`).
  public init(dim: Int, heads: Int, seed: UInt64 = 0) {
    precondition(heads > 0 && dim % heads == 0, "MultiHeadAttention: dim \(dim) not divisible by \(heads) heads")
    query = Linear(dim, dim, seed: seed &+ 1)
    key = Linear(dim, dim, seed: seed &+ 2)
    value = Linear(dim, dim, seed: seed &+ 3)
    out = Linear(dim, dim, seed: seed &+ 4)
    self.heads = heads
  }

  /// The attention matmul quantizer slots.
  public override class var quantizerSlotNames: [String] {
    ["q_bmm_quantizer", "k_bmm_quantizer", "p_bmm_quantizer", "v_bmm_quantizer"]
  }

  /// A new attention layer with the same width and heads.
  public override func emptyCopy() throws -> Module { MultiHeadAttention(dim: query.inFeatures, heads: heads) }

  /// `[B, T, D]` → `[B, T, D]`.
  public override func forward(_ x: Tensor) -> Tensor {
    if x.rank != 3 || x.shape[2] != query.inFeatures, rejectInput(x.shape, "expects [batch, tokens, \(query.inFeatures)]") {
      return Tensor.zeros([x.shape.first ?? 1, 1, query.inFeatures])
    }
    let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2])
    let dh = d / heads
    func split(_ y: Tensor) -> Tensor { y.reshapedUnchecked([b, t, heads, dh]).permuted([0, 2, 1, 3]) }
    let q = quantize(split(query(x)), slot: "q_bmm_quantizer")
    let k = quantize(split(key(x)), slot: "k_bmm_quantizer")
    let v = quantize(split(value(x)), slot: "v_bmm_quantizer")
    let scores = Tensor.matmul(q, transposed: k) * (1 / Float(dh).squareRoot())
    let p = quantize(scores.softmax(axis: -1), slot: "p_bmm_quantizer")
    let ctx = p.matmul(v).permuted([0, 2, 1, 3]).reshapedUnchecked([b, t, d])
    return out(ctx)
  }
}
