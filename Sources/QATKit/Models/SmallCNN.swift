/// A small convolutional classifier for `[N, 1, 8, 8]` images:
/// conv(1→8, 3×3, pad 1) → ReLU → max-pool 2 → conv(8→16) → ReLU → max-pool 2 → fc(64→10).
public final class SmallCNN: Module {
  /// First convolution.
  @Child public var conv1: Conv2d
  /// Second convolution.
  @Child public var conv2: Conv2d
  /// Classifier head.
  @Child public var fc: Linear

  /// Creates the network with seeded initialization.
  public init(classes: Int = 10, seed: UInt64 = 0) {
    conv1 = Conv2d(1, 8, kernel: 3, padding: 1, seed: seed)
    conv2 = Conv2d(8, 16, kernel: 3, padding: 1, seed: seed &+ 1)
    fc = Linear(16 * 2 * 2, classes, seed: seed &+ 2)
  }

  /// A new network with the same number of classes.
  public override func emptyCopy() throws -> Module { SmallCNN(classes: fc.outFeatures) }

  /// Accepts `[N, 64]` (reshaped to 8×8) or `[N, 1, 8, 8]`.
  public override func forward(_ x: Tensor) -> Tensor {
    if x.shape.count != 2 && x.shape.count != 4 || x.shape.count == 2 && x.shape[1] != 64
      || x.shape.count == 4 && Array(x.shape[1...]) != [1, 8, 8],
      rejectInput(x.shape, "expects [N, 64] or [N, 1, 8, 8]")
    {
      return Tensor.zeros([x.shape.first ?? 1, fc.outFeatures])
    }
    let img = x.rank == 2 ? x.reshapedUnchecked([x.shape[0], 1, 8, 8]) : x
    let h1 = conv1(img).relu().maxPool2d(kernel: 2)
    let h2 = conv2(h1).relu().maxPool2d(kernel: 2)
    return fc(h2.flattened(from: 1))
  }
}
