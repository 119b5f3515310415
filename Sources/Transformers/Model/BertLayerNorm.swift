import QATKit

/// LayerNorm over the last dimension with learned `weight` (γ) and `bias` (β), quantizable as
/// ModelOpt's `QuantLayerNorm`: slots `input_quantizer` (on the normalized input — in BERT the
/// residual sum) and `output_quantizer`.
///
/// ModelOpt's default configs (`INT8_DEFAULT_CFG`, `FP8_DEFAULT_CFG`, ...) enable every
/// `*input_quantizer`, so they quantize these inputs too; `*LayerNorm*` rules switch them off.
public final class BertLayerNorm: Module {
  /// γ, `[dim]`.
  public let weight: Tensor
  /// β, `[dim]`.
  public let bias: Tensor
  /// Added to the variance.
  public let eps: Float

  /// Creates the layer with γ = 1, β = 0.
  public init(_ dim: Int, eps: Float) {
    weight = .ones([dim], requiresGrad: true)
    bias = .zeros([dim], requiresGrad: true)
    self.eps = eps
  }

  /// `input_quantizer` and `output_quantizer`, as ModelOpt's `QuantLayerNorm`.
  public override class var quantizerSlotNames: [String] { ["input_quantizer", "output_quantizer"] }

  /// Normalizes `x [..., dim]` (one fused kernel per direction).
  public override func forward(_ x: Tensor) -> Tensor {
    let xq = quantize(x, slot: "input_quantizer")
    return quantize(xq.layerNorm(gamma: weight, beta: bias, eps: eps), slot: "output_quantizer")
  }
}
