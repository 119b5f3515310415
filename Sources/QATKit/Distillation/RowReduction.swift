/// Reductions over the rows of an output (all axes but the last) with an optional mask.
enum RowReduction {
  /// The number of rows of a tensor of `shape` (its element count over the last axis).
  static func rows(_ shape: [Int]) -> Int {
    let c = shape.last ?? 1
    return c == 0 ? 0 : shape.reduce(1, *) / c
  }

  /// `x` viewed as `[rows, lastAxis]`.
  static func matrix(_ x: Tensor) -> Tensor {
    let c = x.shape.last ?? 1
    return x.reshapedUnchecked([rows(x.shape), c])
  }

  /// The mean of `perRow [rows]`, over the rows kept by `mask` (weighted) when given.
  static func mean(_ perRow: Tensor, mask: [Float]?) -> Tensor {
    guard let mask else { return perRow.mean() }
    precondition(mask.count == perRow.count, "mask has \(mask.count) values for \(perRow.count) rows")
    let weights = Tensor(shape: [mask.count], storage: mask)
    return (perRow * weights).sum() / Swift.max(mask.reduce(0, +), 1)
  }
}
