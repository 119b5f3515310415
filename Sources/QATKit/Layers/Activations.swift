/// Rectified linear unit.
public final class ReLU: Module {
  /// Creates the layer.
  public override init() {}
  /// `max(x, 0)`.
  public override func forward(_ x: Tensor) -> Tensor { x.relu() }
  /// A new `ReLU`.
  public override func emptyCopy() throws -> Module { ReLU() }
}

/// Gaussian error linear unit (exact, with erf; PyTorch's `nn.GELU()` default).
public final class GELU: Module {
  /// Creates the layer.
  public override init() {}
  /// `x·Φ(x)`.
  public override func forward(_ x: Tensor) -> Tensor { x.gelu() }
  /// A new `GELU`.
  public override func emptyCopy() throws -> Module { GELU() }
}

/// Sigmoid linear unit (swish), `x·σ(x)`, PyTorch's `nn.SiLU`.
public final class SiLU: Module {
  /// Creates the layer.
  public override init() {}
  /// `x·σ(x)`.
  public override func forward(_ x: Tensor) -> Tensor { x * x.sigmoid() }
  /// A new `SiLU`.
  public override func emptyCopy() throws -> Module { SiLU() }
}

/// Hyperbolic tangent, PyTorch's `nn.Tanh`.
public final class Tanh: Module {
  /// Creates the layer.
  public override init() {}
  /// `tanh(x)`.
  public override func forward(_ x: Tensor) -> Tensor { x.tanh() }
  /// A new `Tanh`.
  public override func emptyCopy() throws -> Module { Tanh() }
}

/// Logistic sigmoid, PyTorch's `nn.Sigmoid`.
public final class Sigmoid: Module {
  /// Creates the layer.
  public override init() {}
  /// `1 / (1 + e^-x)`.
  public override func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
  /// A new `Sigmoid`.
  public override func emptyCopy() throws -> Module { Sigmoid() }
}

/// Zeroes elements with probability `p` in training mode and scales the rest by `1/(1-p)`.
public final class Dropout: Module {
  /// Drop probability.
  public let p: Float
  private let seed: UInt64
  private var rng: RandomGenerator

  /// Creates the layer with a seeded mask generator.
  public init(p: Float = 0.1, seed: UInt64 = 0) {
    self.p = p
    self.seed = seed
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

  /// A new `Dropout` with the same probability and seed (its mask sequence restarts).
  public override func emptyCopy() throws -> Module { Dropout(p: p, seed: seed) }
}
