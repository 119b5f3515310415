extension Tensor {
  /// Layer normalization over the last dimension: `(x - mean) / sqrt(var + eps) · gamma + beta`
  /// with the biased variance, as PyTorch's `layer_norm`.
  public func layerNorm(gamma: Tensor? = nil, beta: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
    let centered = self - mean(axis: -1, keepDims: true)
    let variance = (centered * centered).mean(axis: -1, keepDims: true)
    var y = centered / (variance + eps).sqrt()
    if let gamma { y = y * gamma }
    if let beta { y = y + beta }
    return y
  }

  /// Rows of `self` (a `[vocab, dim]` table) for each index: shape `indexShape + [dim]`.
  public func embedding(_ indices: [Int], indexShape: [Int]? = nil) -> Tensor {
    precondition(rank == 2, "embedding: table must be [vocab, dim], got \(shape)")
    let rows = gather(indices, axis: 0)
    return rows.reshapedUnchecked((indexShape ?? [indices.count]) + [shape[1]])
  }
}
