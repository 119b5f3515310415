import QATKit

/// BERT's pooler (`pooler`): `tanh(dense(hidden[:, 0]))`, the `[CLS]` summary that
/// `BertModel` computes besides the hidden states. Sentence embeddings do not use it; it is
/// kept so the checkpoint loads strictly and its quantizers exist (and are calibrated) as in
/// ModelOpt.
public final class BertPooler: Module {
  /// `hidden → hidden` projection.
  public let dense: Linear

  /// Creates the pooler.
  public init(config: BertConfig, initialization: BertInitialization = .random(seed: 0)) {
    dense = initialization.child(1).linear(config.hiddenSize, config.hiddenSize)
  }

  /// PyTorch's names.
  public override func children() -> [(String, Module)] { [("dense", dense)] }

  /// `[B, T, D]` → `[B, D]` from the first token.
  public override func forward(_ x: Tensor) -> Tensor {
    dense(x.slice(axis: 1, 0..<1).reshapedUnchecked([x.shape[0], x.shape[2]])).tanh()
  }
}
