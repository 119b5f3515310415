/// Flattens the dimensions from `startDim` on into one (PyTorch's `nn.Flatten`, which starts
/// at 1 and keeps the batch dimension).
public final class Flatten: Module {
  /// The first dimension to flatten.
  public let startDim: Int

  /// Creates the layer.
  public init(startDim: Int = 1) {
    precondition(startDim >= 0, "Flatten: startDim \(startDim) must be >= 0")
    self.startDim = startDim
  }

  /// `[N, ...]` → `[N, prod(...)]` (for `startDim` 1).
  public override func forward(_ x: Tensor) -> Tensor { x.flattened(from: startDim) }
  /// A new layer with the same start.
  public override func emptyCopy() throws -> Module { Flatten(startDim: startDim) }
}

/// Gives each sample a new shape, keeping the batch dimension: `[N, ...]` → `[N] + shape`
/// (PyTorch's `x.view(x.size(0), *shape)`). One dimension may be `-1`.
public final class Reshape: Module {
  /// The per-sample shape; one entry may be `-1`.
  public let shape: [Int]

  /// Creates the layer.
  public init(_ shape: [Int]) {
    precondition(!shape.isEmpty && shape.allSatisfy { $0 > 0 || $0 == -1 } && shape.filter { $0 == -1 }.count <= 1,
      "Reshape: \(shape) needs positive dimensions and at most one -1")
    self.shape = shape
  }

  /// The per-sample output shape for samples of `count` elements, or `nil` if it does not fit.
  public func sampleShape(forCount count: Int) -> [Int]? {
    var known = 1
    for d in shape where d != -1 {
      let (p, overflow) = known.multipliedReportingOverflow(by: d)
      guard !overflow else { return nil }
      known = p
    }
    guard let i = shape.firstIndex(of: -1) else { return known == count ? shape : nil }
    guard known > 0, count % known == 0, count / known > 0 else { return nil }
    var s = shape
    s[i] = count / known
    return s
  }

  /// `[N, ...]` → `[N] + shape`.
  public override func forward(_ x: Tensor) -> Tensor {
    let n = x.shape.first ?? 1
    let perSample = x.count / Swift.max(n, 1)
    guard let s = sampleShape(forCount: perSample) else {
      preconditionFailure("Reshape: samples of shape \(Array(x.shape.dropFirst())) do not fit \(shape)")
    }
    return x.reshapedUnchecked([n] + s)
  }

  /// A new layer with the same shape.
  public override func emptyCopy() throws -> Module { Reshape(shape) }
}

/// The mean over one axis, e.g. over tokens (`axis: 1` of `[batch, tokens, dim]`) before a
/// classifier head.
public final class Mean: Module {
  /// The axis averaged away (negative counts from the end).
  public let axis: Int

  /// Creates the layer.
  public init(axis: Int) { self.axis = axis }

  /// The input averaged over ``axis``, which is removed.
  public override func forward(_ x: Tensor) -> Tensor { x.mean(axis: axis) }
  /// A new layer with the same axis.
  public override func emptyCopy() throws -> Module { Mean(axis: axis) }
}
