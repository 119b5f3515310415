/// How per-channel/per-block parameters map onto a flat row-major buffer.
///
/// Per-channel on `axis` views the tensor as `[outer, axisLen, inner]`; blocks view it as
/// `[count / size, size]` along the last axis.
package struct ParamLayout: Sendable, Equatable {
  /// How parameter indices vary along the flat buffer.
  package enum Mode: Sendable, Equatable {
    /// One parameter set for every element.
    case uniform
    /// Contiguous segments of `length` elements share parameter `segment % paramCount`.
    case segments(length: Int)
    /// Rows of `paramCount` elements; element `j` of each row uses parameter `j` (channel axis last).
    case lanes
  }

  /// Number of elements in the tensor.
  package let count: Int
  /// Number of parameter sets (amax values, scales, ...).
  package let paramCount: Int
  /// The mapping mode.
  package let mode: Mode

  /// The parameter index of flat element `i` (scalar reference path).
  @inline(__always)
  package func paramIndex(_ i: Int) -> Int {
    switch mode {
    case .uniform: return 0
    case .segments(let length): return (i / length) % paramCount
    case .lanes: return i % paramCount
    }
  }
}

/// The number of elements of `shape`, validating it.
/// - Throws: ``QuantizationError/Kind/invalidShape`` for negative dimensions or overflow.
package func elementCount(of shape: [Int]) throws(QuantizationError) -> Int {
  var total = 1
  for d in shape {
    guard d >= 0 else { throw QuantizationError(.invalidShape, "shape \(shape) has a negative dimension") }
    let (p, overflow) = total.multipliedReportingOverflow(by: d)
    guard !overflow else { throw QuantizationError(.invalidShape, "element count of shape \(shape) overflows Int") }
    total = p
  }
  return total
}

/// Checks that a buffer holds exactly `expected` elements.
package func checkCount(_ actual: Int, _ expected: Int, _ what: String) throws(QuantizationError) {
  guard actual == expected else {
    throw QuantizationError(.bufferSizeMismatch, "\(what) has \(actual) elements, expected \(expected)")
  }
}

/// Resolves `granularity` against `shape` and checks that the input buffer matches.
/// - Throws: ``QuantizationError`` for bad shapes, axes or block sizes.
package func resolveLayout(
  shape: [Int], bufferCount: Int, granularity: QuantGranularity
) throws(QuantizationError) -> ParamLayout {
  let n = try elementCount(of: shape)
  try checkCount(bufferCount, n, "input buffer of shape \(shape)")
  switch granularity {
  case .perTensor:
    return ParamLayout(count: n, paramCount: 1, mode: .uniform)
  case .perChannel(let axis):
    let rank = shape.count
    guard axis >= -rank && axis < rank else {
      throw QuantizationError(.axisOutOfRange, "axis \(axis) is out of range for shape \(shape) (rank \(rank))")
    }
    let ax = axis < 0 ? axis + rank : axis
    var inner = 1
    for d in shape[(ax + 1)...] { inner *= d }
    let axisLen = shape[ax]
    if inner == 1 { return ParamLayout(count: n, paramCount: axisLen, mode: .lanes) }
    return ParamLayout(count: n, paramCount: axisLen, mode: .segments(length: inner))
  case .perBlock(let size):
    guard let last = shape.last else {
      throw QuantizationError(.invalidBlockSize, "block quantization needs a tensor of rank >= 1, got shape \(shape)")
    }
    guard size > 0 else { throw QuantizationError(.invalidBlockSize, "block size \(size) must be positive") }
    guard last % size == 0 else {
      throw QuantizationError(
        .invalidBlockSize, "block size \(size) does not divide the last dimension \(last) of shape \(shape)")
    }
    return ParamLayout(count: n, paramCount: n / size, mode: .segments(length: size))
  }
}
