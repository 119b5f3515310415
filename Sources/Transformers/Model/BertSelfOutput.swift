import QATKit

/// The attention block's output (`attention.output`): `dense`, dropout, then
/// `LayerNorm(hidden + residual)` (post-norm).
///
/// It takes two tensors, so the parent calls ``callAsFunction(_:residual:)``; output hooks on
/// this module do not run (hook the parent layer instead).
public final class BertSelfOutput: Module {
  /// `hidden → hidden` projection.
  public let dense: Linear
  /// Normalization of the residual sum.
  public let layerNorm: BertLayerNorm
  /// Dropout after `dense`.
  public let dropout: Dropout

  /// Creates the block.
  public init(config: BertConfig, initialization: BertInitialization = .random(seed: 0)) {
    dense = initialization.child(1).linear(config.hiddenSize, config.hiddenSize)
    layerNorm = BertLayerNorm(config.hiddenSize, eps: config.layerNormEps)
    dropout = Dropout(p: config.hiddenDropoutProb, seed: initialization.seed(2))
  }

  /// PyTorch's names.
  public override func children() -> [(String, Module)] {
    [("dense", dense), ("LayerNorm", layerNorm), ("dropout", dropout)]
  }

  /// `LayerNorm(dropout(dense(hidden)) + residual)`.
  public func callAsFunction(_ hidden: Tensor, residual: Tensor) -> Tensor {
    layerNorm(dropout(dense(hidden)) + residual)
  }

  /// Not callable with one tensor: the residual is needed.
  public override func forward(_ x: Tensor) -> Tensor {
    preconditionFailure("BertSelfOutput needs the residual: call output(hidden, residual: x)")
  }
}
