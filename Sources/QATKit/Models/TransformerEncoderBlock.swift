/// A pre-norm transformer encoder block over `[batch, tokens, dim]`:
/// `x + attention(norm1(x))`, then `h + fc2(GELU(fc1(norm2(h))))`.
public final class TransformerEncoderBlock: Module {
  /// Norm before attention.
  @Child public var norm1: LayerNorm
  /// Self-attention.
  @Child public var attention: MultiHeadAttention
  /// Norm before the MLP.
  @Child public var norm2: LayerNorm
  /// MLP expansion.
  @Child public var fc1: Linear
  /// MLP projection.
  @Child public var fc2: Linear

  /// Creates a block with `heads` heads and an MLP of `hidden` units.
  public init(dim: Int, heads: Int, hidden: Int, seed: UInt64 = 0) {
    norm1 = LayerNorm(dim)
    attention = MultiHeadAttention(dim: dim, heads: heads, seed: seed)
    norm2 = LayerNorm(dim)
    fc1 = Linear(dim, hidden, seed: seed &+ 10)
    fc2 = Linear(hidden, dim, seed: seed &+ 11)
  }

  /// A new block with the same width, heads and MLP size.
  public override func emptyCopy() throws -> Module {
    TransformerEncoderBlock(dim: fc1.inFeatures, heads: attention.heads, hidden: fc1.outFeatures)
  }

  /// `[B, T, D]` → `[B, T, D]`.
  public override func forward(_ x: Tensor) -> Tensor {
    let h = x + attention(norm1(x))
    return h + fc2(fc1(norm2(h)).gelu())
  }
}

/// A tiny transformer classifier for 8×8 digits: each image row is a token of 8 pixels.
///
/// `embed` (Linear 8→dim) plus a learned position table, one ``TransformerEncoderBlock``,
/// mean over tokens, LayerNorm and a linear head.
public final class DigitsTransformer: Module {
  /// Token projection.
  @Child public var embed: Linear
  /// Learned positions `[8, dim]`.
  public let position: Tensor
  /// The encoder block.
  @Child public var block: TransformerEncoderBlock
  /// Final norm.
  @Child public var norm: LayerNorm
  /// Classifier.
  @Child public var head: Linear

  /// Creates the model.
  public init(dim: Int = 32, heads: Int = 4, classes: Int = 10, seed: UInt64 = 0) {
    var rng = RandomGenerator(seed: seed &+ 99)
    embed = Linear(8, dim, seed: seed)
    position = .randn([8, dim], std: 0.02, using: &rng, requiresGrad: true)
    block = TransformerEncoderBlock(dim: dim, heads: heads, hidden: 2 * dim, seed: seed &+ 20)
    norm = LayerNorm(dim)
    head = Linear(dim, classes, seed: seed &+ 30)
  }

  /// A new model with the same width, heads and classes.
  public override func emptyCopy() throws -> Module {
    DigitsTransformer(dim: embed.outFeatures, heads: block.attention.heads, classes: head.outFeatures)
  }

  /// `[N, 64]` → logits `[N, classes]`.
  public override func forward(_ x: Tensor) -> Tensor {
    let tokens = embed(x.reshapedUnchecked([x.shape[0], 8, 8])) + position
    return head(norm(block(tokens).mean(axis: 1)))
  }
}
