/// Rectified linear unit.
public final class ReLU: Module {
  /// Creates the layer.
  public override init() {}
  /// `max(x, 0)`.
  public override func forward(_ x: Tensor) -> Tensor { x.relu() }
}

/// Gaussian error linear unit (exact, with erf).
public final class GELU: Module {
  /// Creates the layer.
  public override init() {}
  /// `x·Φ(x)`.
  public override func forward(_ x: Tensor) -> Tensor { x.gelu() }
}

/// Flattens every dimension after the first.
public final class Flatten: Module {
  /// Creates the layer.
  public override init() {}
  /// `[N, ...]` → `[N, prod(...)]`.
  public override func forward(_ x: Tensor) -> Tensor { x.flattened(from: 1) }
}

/// Zeroes elements with probability `p` in training mode and scales the rest by `1/(1-p)`.
public final class Dropout: Module {
  /// Drop probability.
  public let p: Float
  private var rng: RandomGenerator

  /// Creates the layer with a seeded mask generator.
  public init(p: Float = 0.1, seed: UInt64 = 0) {
    self.p = p
    rng = RandomGenerator(seed: seed)
  }

  /// Identity in evaluation mode.
  public override func forward(_ x: Tensor) -> Tensor {
    guard training, p > 0 else { return x }
    let keep = 1 - p
    var mask = [Float](repeating: 0, count: x.count)
    for i in 0..<mask.count where rng.nextUniform() < keep { mask[i] = 1 / keep }
    return x * Tensor(shape: x.shape, storage: mask)
  }
}
