extension Tensor {
  /// A tensor of zeros.
  public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
    full(shape, 0, requiresGrad: requiresGrad)
  }

  /// A tensor of ones.
  public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
    full(shape, 1, requiresGrad: requiresGrad)
  }

  /// A tensor filled with `value`.
  public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) -> Tensor {
    precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
    return Tensor(shape: shape, storage: [Float](repeating: value, count: shape.reduce(1, *)), requiresGrad: requiresGrad)
  }

  /// `[start, start + step, …]` below `end`, as a 1-D tensor.
  public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
    precondition(step != 0, "arange: step must not be 0")
    let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
    return Tensor(shape: [n], storage: (0..<n).map { start + Float($0) * step })
  }

  /// Standard-normal values scaled by `std` plus `mean`, from a seeded generator.
  public static func randn(
    _ shape: [Int], mean: Float = 0, std: Float = 1, using rng: inout RandomGenerator, requiresGrad: Bool = false
  ) -> Tensor {
    let n = shape.reduce(1, *)
    var v = [Float](repeating: 0, count: n)
    for i in 0..<n { v[i] = mean + std * rng.nextNormal() }
    return Tensor(shape: shape, storage: v, requiresGrad: requiresGrad)
  }

  /// Uniform values in `[low, high)` from a seeded generator.
  public static func uniform(
    _ shape: [Int], low: Float = 0, high: Float = 1, using rng: inout RandomGenerator, requiresGrad: Bool = false
  ) -> Tensor {
    let n = shape.reduce(1, *)
    var v = [Float](repeating: 0, count: n)
    for i in 0..<n { v[i] = low + (high - low) * rng.nextUniform() }
    return Tensor(shape: shape, storage: v, requiresGrad: requiresGrad)
  }
}
