/// Layer normalization over the last dimension with learned `weight` (γ) and `bias` (β).
public final class LayerNorm: Module {
  /// γ, initialized to 1.
  public let weight: Tensor
  /// β, initialized to 0.
  public let bias: Tensor
  /// Added to the variance.
  public let eps: Float

  /// Creates the layer for a last dimension of `dim`.
  public init(_ dim: Int, eps: Float = 1e-5) {
    weight = .ones([dim], requiresGrad: true)
    bias = .zeros([dim], requiresGrad: true)
    self.eps = eps
  }

  /// A new layer of the same size and eps.
  public override func emptyCopy() throws -> Module { LayerNorm(weight.count, eps: eps) }

  /// Normalizes `x [..., dim]`.
  public override func forward(_ x: Tensor) -> Tensor {
    if x.shape.last != weight.count, rejectInput(x.shape, "expects [..., \(weight.count)]") {
      return Tensor.zeros(x.shape.isEmpty ? [weight.count] : x.shape.dropLast() + [weight.count])
    }
    return x.layerNorm(gamma: weight, beta: bias, eps: eps)
  }
}
