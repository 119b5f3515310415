import QATKit

/// The feed-forward expansion of a BERT layer (`intermediate`): `dense` then GELU (erf), one
/// fused kernel per direction.
public final class BertIntermediate: Module {
  /// `hidden → intermediate` projection.
  public let dense: Linear

  /// Creates the block.
  public init(config: BertConfig, initialization: BertInitialization = .random(seed: 0)) {
    dense = initialization.child(1).linear(config.hiddenSize, config.intermediateSize)
  }

  /// PyTorch's names.
  public override func children() -> [(String, Module)] { [("dense", dense)] }

  /// `[..., hidden]` → `[..., intermediate]`.
  public override func forward(_ x: Tensor) -> Tensor { dense(x).gelu() }
}
