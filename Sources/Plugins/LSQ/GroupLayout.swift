import QATKit

/// How the elements of a tensor map onto the groups that share one learned range:
/// the tensor is viewed as `[outer, groups, inner]` (per-tensor: `[1, 1, n]`; per-channel on
/// axis `a`: `[∏ before, shape[a], ∏ after]`; blocks of the last axis: `[1, n / size, size]`).
struct GroupLayout: Equatable {
  let outer: Int, groups: Int, inner: Int

  init(shape: [Int], granularity: QuantGranularity) throws {
    let n = shape.reduce(1, *)
    switch granularity {
    case .perTensor:
      (outer, groups, inner) = (1, 1, n)
    case .perChannel(let axis):
      let a = axis < 0 ? axis + shape.count : axis
      guard a >= 0 && a < shape.count else {
        throw QuantizerError.stateMismatch("axis \(axis) out of range for shape \(shape)")
      }
      (outer, groups, inner) = (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
    case .perBlock(let size):
      guard let last = shape.last, size > 0, last % size == 0 else {
        throw QuantizerError.stateMismatch("block size \(size) does not divide the last dimension of \(shape)")
      }
      (outer, groups, inner) = (1, n / size, size)
    }
  }

  /// Values regrouped group-major, as calibrators expect.
  func groupMajor(_ x: [Float]) -> CalibrationBatch {
    if outer == 1 { return CalibrationBatch(groupCount: groups, groupSize: inner, values: x) }
    var out = [Float](repeating: 0, count: x.count)
    var k = 0
    for g in 0..<groups {
      for o in 0..<outer {
        let base = (o * groups + g) * inner
        for i in 0..<inner { out[k] = x[base + i]; k += 1 }
      }
    }
    return CalibrationBatch(groupCount: groups, groupSize: outer * inner, values: out)
  }
}
