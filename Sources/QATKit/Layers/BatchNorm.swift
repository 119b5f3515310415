/// Batch normalization with frozen running statistics (PyTorch's `nn.BatchNorm1d` /
/// `nn.BatchNorm2d` in evaluation mode): `(x - running_mean) / sqrt(running_var + eps) · weight
/// + bias`, per channel along axis 1 of `[N, C]`, `[N, C, L]` or `[N, C, H, W]`.
///
/// The statistics are buffers (`running_mean`, `running_var`, `num_batches_tracked`): they
/// load from and save to state dicts under PyTorch's names and are never trained. The layer
/// uses them in training mode too, so fine-tuning (QAT) keeps the normalization the FP32 model
/// learned; `weight` and `bias` train.
public final class BatchNorm: Module {
  /// γ, `[C]`, initialized to 1.
  public let weight: Tensor
  /// β, `[C]`, initialized to 0.
  public let bias: Tensor
  /// Running mean, `[C]` (a buffer).
  public let runningMean: Tensor
  /// Running variance, `[C]` (a buffer).
  public let runningVar: Tensor
  /// PyTorch's update counter, a scalar buffer kept so state dicts round-trip.
  public let numBatchesTracked: Tensor
  /// Added to the variance.
  public let eps: Float

  /// Creates the layer for `channels` channels.
  public init(_ channels: Int, eps: Float = 1e-5) {
    weight = .ones([channels], requiresGrad: true)
    bias = .zeros([channels], requiresGrad: true)
    runningMean = .zeros([channels])
    runningVar = .ones([channels])
    numBatchesTracked = .zeros([])
    self.eps = eps
  }

  /// `weight` and `bias`.
  public override func ownParameters() -> [(String, Tensor)] { [("weight", weight), ("bias", bias)] }

  /// `running_mean`, `running_var`, `num_batches_tracked`.
  public override func ownBuffers() -> [(String, Tensor)] {
    [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", numBatchesTracked)]
  }

  /// Normalizes channel axis 1 with the running statistics.
  public override func forward(_ x: Tensor) -> Tensor {
    let c = weight.count
    precondition(x.rank >= 2 && x.shape[1] == c, "BatchNorm: input \(x.shape) needs \(c) channels on axis 1")
    // Per-channel scale and shift, broadcast over [N, C, 1, ...].
    let scale = weight / (runningVar.detach() + eps).sqrt()
    let shift = bias - runningMean.detach() * scale
    let view = [c] + [Int](repeating: 1, count: x.rank - 2)
    return x * scale.reshapedUnchecked(view) + shift.reshapedUnchecked(view)
  }

  /// A new layer with the same channel count and eps.
  public override func emptyCopy() throws -> Module { BatchNorm(weight.count, eps: eps) }
}
