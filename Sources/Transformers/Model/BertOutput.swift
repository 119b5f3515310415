import QATKit

/// The residual projection that closes both blocks of a BERT layer: `dense`, dropout, then
/// `LayerNorm(hidden + residual)` (post-norm). `attention.output` projects the attention context
/// (`hidden → hidden`), `output` the feed-forward activation (`intermediate → hidden`); the two
/// differ only in `dense`'s input width.
///
/// It needs two tensors, so it is not a ``QATKit/Module`` (a module is callable with one tensor,
/// which could only fail here): the parent layer lists its parts as its own children under
/// PyTorch's names (`output.dense`, `output.LayerNorm`, `output.dropout`; see ``children(prefix:)``),
/// so state-dict keys and quantizer paths are HuggingFace's and ModelOpt's, and calls
/// ``callAsFunction(_:residual:)``. Hook the parent layer or `dense` to observe it.
public struct BertOutput {
  /// `inputSize → hidden` projection.
  public let dense: Linear
  /// Normalization of the residual sum.
  public let layerNorm: BertLayerNorm
  /// Dropout after `dense`.
  public let dropout: Dropout

  /// Creates the block projecting `inputSize` features to `config.hiddenSize`.
  public init(inputSize: Int, config: BertConfig, initialization: BertInitialization = .random(seed: 0)) {
    dense = initialization.child(1).linear(inputSize, config.hiddenSize)
    layerNorm = BertLayerNorm(config.hiddenSize, eps: config.layerNormEps)
    dropout = Dropout(p: config.hiddenDropoutProb, seed: initialization.seed(2))
  }

  /// The parts under PyTorch's names, each prefixed with `prefix.` (the parent's children).
  public func children(prefix: String) -> [(String, Module)] {
    [("\(prefix).dense", dense), ("\(prefix).LayerNorm", layerNorm), ("\(prefix).dropout", dropout)]
  }

  /// `LayerNorm(dropout(dense(hidden)) + residual)`.
  public func callAsFunction(_ hidden: Tensor, residual: Tensor) -> Tensor {
    layerNorm(dropout(dense(hidden)) + residual)
  }
}
