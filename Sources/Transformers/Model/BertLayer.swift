import QATKit

/// One post-norm BERT encoder layer (`encoder.layer.N`): attention block, then feed-forward
/// block, each with a residual connection and LayerNorm. The feed-forward block's closing
/// ``BertOutput`` is listed as this module's children `output.dense`, `output.LayerNorm`,
/// `output.dropout`.
public final class BertLayer: Module {
  /// `attention`.
  public let attention: BertAttention
  /// `intermediate`.
  public let intermediate: BertIntermediate
  /// `output`.
  public let output: BertOutput

  /// Creates a layer; `maskContext` is shared with the model that sets the padding mask
  /// (a fresh one means no mask).
  public init(config: BertConfig, maskContext: AttentionMaskContext = AttentionMaskContext(), initialization: BertInitialization = .random(seed: 0)) {
    attention = BertAttention(config: config, maskContext: maskContext, initialization: initialization.child(100))
    intermediate = BertIntermediate(config: config, initialization: initialization.child(200))
    output = BertOutput(inputSize: config.intermediateSize, config: config, initialization: initialization.child(300))
  }

  /// PyTorch's names.
  public override func children() -> [(String, Module)] {
    [("attention", attention), ("intermediate", intermediate)] + output.children(prefix: "output")
  }

  /// `[B, T, D]` → `[B, T, D]`.
  public override func forward(_ x: Tensor) -> Tensor {
    let a = attention(x)
    return output(intermediate(a), residual: a)
  }
}
