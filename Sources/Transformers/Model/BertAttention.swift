import QATKit

/// The attention block of a BERT layer (`attention`): `self` (multi-head attention) and
/// `output` (projection, dropout, residual, LayerNorm; its parts are this module's children
/// `output.dense`, `output.LayerNorm`, `output.dropout`).
public final class BertAttention: Module {
  /// `attention.self`.
  public let selfAttention: BertSelfAttention
  /// `attention.output`.
  public let output: BertOutput

  /// Creates the block.
  public init(config: BertConfig, maskContext: AttentionMaskContext, initialization: BertInitialization = .random(seed: 0)) {
    selfAttention = BertSelfAttention(config: config, maskContext: maskContext, initialization: initialization.child(10))
    output = BertOutput(inputSize: config.hiddenSize, config: config, initialization: initialization.child(20))
  }

  /// PyTorch's names (`self` is a keyword in Swift, hence the property name).
  public override func children() -> [(String, Module)] { [("self", selfAttention)] + output.children(prefix: "output") }

  /// `[B, T, D]` → `[B, T, D]`.
  public override func forward(_ x: Tensor) -> Tensor { output(selfAttention(x), residual: x) }
}
