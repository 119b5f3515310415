/// Max pooling over `kernel × kernel` windows of `[N, C, H, W]`, PyTorch's `nn.MaxPool2d`
/// without padding or dilation (stride defaults to the kernel size).
public final class MaxPool2d: Module {
  /// Window size on both axes.
  public let kernel: Int
  /// Step on both axes.
  public let stride: Int

  /// Creates the layer; `stride` defaults to `kernel`.
  public init(kernel: Int, stride: Int? = nil) {
    precondition(kernel >= 1 && (stride ?? kernel) >= 1, "MaxPool2d: kernel \(kernel), stride \(stride ?? kernel)")
    self.kernel = kernel
    self.stride = stride ?? kernel
  }

  /// `[N, C, H, W]` → `[N, C, (H-k)/s+1, (W-k)/s+1]`.
  public override func forward(_ x: Tensor) -> Tensor { x.maxPool2d(kernel: kernel, stride: stride) }
  /// A new layer with the same window.
  public override func emptyCopy() throws -> Module { MaxPool2d(kernel: kernel, stride: stride) }
}

/// Average pooling over `kernel × kernel` windows of `[N, C, H, W]`, PyTorch's
/// `nn.AvgPool2d` without padding (stride defaults to the kernel size).
public final class AvgPool2d: Module {
  /// Window size on both axes.
  public let kernel: Int
  /// Step on both axes.
  public let stride: Int

  /// Creates the layer; `stride` defaults to `kernel`.
  public init(kernel: Int, stride: Int? = nil) {
    precondition(kernel >= 1 && (stride ?? kernel) >= 1, "AvgPool2d: kernel \(kernel), stride \(stride ?? kernel)")
    self.kernel = kernel
    self.stride = stride ?? kernel
  }

  /// `[N, C, H, W]` → `[N, C, (H-k)/s+1, (W-k)/s+1]`.
  public override func forward(_ x: Tensor) -> Tensor { x.avgPool2d(kernel: kernel, stride: stride) }
  /// A new layer with the same window.
  public override func emptyCopy() throws -> Module { AvgPool2d(kernel: kernel, stride: stride) }
}
