extension Tensor {
  /// The same values with a new shape; one dimension may be `-1` (inferred).
  ///
  /// - Throws: ``TensorError/shapeMismatch(_:)`` when the element counts differ.
  public func reshaped(_ newShape: [Int]) throws -> Tensor {
    var target = newShape
    if let i = newShape.firstIndex(of: -1) {
      let known = newShape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
      guard known > 0, count % known == 0 else {
        throw TensorError.shapeMismatch("cannot reshape \(shape) to \(newShape)")
      }
      target[i] = count / known
    }
    try Tensor.validate(shape: target)
    guard target.reduce(1, *) == count else {
      throw TensorError.shapeMismatch("cannot reshape \(shape) (\(count) elements) to \(newShape)")
    }
    return reshapedUnchecked(target)
  }

  /// Reshape whose element count is known to match (internal callers).
  package func reshapedUnchecked(_ target: [Int]) -> Tensor {
    if target == shape { return self }
    let x = self
    return Tensor(shape: target, storage: storage).recording("reshape", inputs: [x]) { g in
      [Tensor(shape: x.shape, storage: g.storage)]
    }
  }

  /// Collapses dimensions `from...` into one (`[N, C, H, W]` → `[N, C·H·W]` by default).
  public func flattened(from start: Int = 1) -> Tensor {
    guard rank > start else { return self }
    return reshapedUnchecked(Array(shape[..<start]) + [shape[start...].reduce(1, *)])
  }

  /// Inserts a dimension of size 1 at `axis`.
  public func unsqueezed(_ axis: Int) -> Tensor {
    var s = shape
    s.insert(1, at: axis < 0 ? axis + rank + 1 : axis)
    return reshapedUnchecked(s)
  }

  /// Reorders dimensions: result dimension `i` is input dimension `order[i]`.
  public func permuted(_ order: [Int]) -> Tensor {
    precondition(order.sorted() == Array(0..<rank), "permute: \(order) is not a permutation of 0..<\(rank)")
    if order == Array(0..<rank) { return self }
    let outShape = order.map { shape[$0] }
    var inStrides = [Int](repeating: 1, count: rank)
    for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
    let strides = order.map { inStrides[$0] }
    var out = [Float](repeating: 0, count: count)
    if count > 0 {
      storage.withUnsafeBufferPointer { p in
        out.withUnsafeMutableBufferPointer { o in
          var idx = [Int](repeating: 0, count: rank)
          var off = 0
          let last = rank - 1
          let n = outShape[last], s = strides[last]
          var j = 0
          while j < count {
            for k in 0..<n { o[j &+ k] = p[off &+ k &* s] }
            j &+= n
            var d = last - 1
            while d >= 0 {
              idx[d] += 1
              off &+= strides[d]
              if idx[d] < outShape[d] { break }
              off &-= strides[d] &* outShape[d]
              idx[d] = 0
              d -= 1
            }
          }
        }
      }
    }
    var inverse = [Int](repeating: 0, count: rank)
    for (i, o) in order.enumerated() { inverse[o] = i }
    return Tensor(shape: outShape, storage: out).recording("permute", inputs: [self]) { g in
      [g.permuted(inverse)]
    }
  }

  /// Swaps two dimensions (default: the last two).
  public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
    let i = axisIndex(a, "transpose"), j = axisIndex(b, "transpose")
    var order = Array(0..<rank)
    order.swapAt(i, j)
    return permuted(order)
  }

  /// Elements `range` along `axis`.
  public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
    let a = axisIndex(axis, "slice")
    precondition(range.lowerBound >= 0 && range.upperBound <= shape[a], "slice: \(range) out of 0..<\(shape[a])")
    let (outer, n, inner) = split(at: a)
    let m = range.count
    var out = [Float](repeating: 0, count: outer * m * inner)
    storage.withUnsafeBufferPointer { p in
      out.withUnsafeMutableBufferPointer { o in
        for i in 0..<outer {
          let src = (i * n + range.lowerBound) * inner
          for k in 0..<(m * inner) { o[i * m * inner + k] = p[src + k] }
        }
      }
    }
    var outShape = shape
    outShape[a] = m
    let x = self
    return Tensor(shape: outShape, storage: out).recording("slice", inputs: [x]) { g in
      var gx = [Float](repeating: 0, count: x.count)
      for i in 0..<outer {
        let dst = (i * n + range.lowerBound) * inner
        for k in 0..<(m * inner) { gx[dst + k] = g.storage[i * m * inner + k] }
      }
      return [Tensor(shape: x.shape, storage: gx)]
    }
  }

  /// Joins tensors along `axis`; all other dimensions must agree.
  public static func concat(_ parts: [Tensor], axis: Int) -> Tensor {
    precondition(!parts.isEmpty, "concat of no tensors")
    let first = parts[0]
    let a = first.axisIndex(axis, "concat")
    for p in parts {
      precondition(
        p.rank == first.rank && p.shape.enumerated().allSatisfy { $0.offset == a || $0.element == first.shape[$0.offset] },
        "concat: shape \(p.shape) does not match \(first.shape) outside axis \(a)")
    }
    let outer = first.shape[..<a].reduce(1, *), inner = first.shape[(a + 1)...].reduce(1, *)
    let sizes = parts.map { $0.shape[a] }
    let total = sizes.reduce(0, +)
    var out = [Float](repeating: 0, count: outer * total * inner)
    var offset = 0
    for (p, m) in zip(parts, sizes) {
      p.storage.withUnsafeBufferPointer { src in
        for i in 0..<outer {
          for k in 0..<(m * inner) { out[(i * total + offset) * inner + k] = src[i * m * inner + k] }
        }
      }
      offset += m
    }
    var outShape = first.shape
    outShape[a] = total
    return Tensor(shape: outShape, storage: out).recording("concat", inputs: parts) { g in
      var start = 0
      return sizes.map { m in
        defer { start += m }
        return g.slice(axis: a, start..<(start + m))
      }
    }
  }

  /// Selects entries along `axis` by index (PyTorch `index_select`); indices may repeat.
  public func gather(_ indices: [Int], axis: Int = 0) -> Tensor {
    let a = axisIndex(axis, "gather")
    let (outer, n, inner) = split(at: a)
    for i in indices { precondition(i >= 0 && i < n, "gather: index \(i) out of 0..<\(n)") }
    let m = indices.count
    var out = [Float](repeating: 0, count: outer * m * inner)
    storage.withUnsafeBufferPointer { p in
      for i in 0..<outer {
        for (j, idx) in indices.enumerated() {
          let src = (i * n + idx) * inner, dst = (i * m + j) * inner
          for k in 0..<inner { out[dst + k] = p[src + k] }
        }
      }
    }
    var outShape = shape
    outShape[a] = m
    let x = self
    return Tensor(shape: outShape, storage: out).recording("gather", inputs: [x]) { g in
      var gx = [Float](repeating: 0, count: x.count)
      for i in 0..<outer {
        for (j, idx) in indices.enumerated() {
          let dst = (i * n + idx) * inner, src = (i * m + j) * inner
          for k in 0..<inner { gx[dst + k] += g.storage[src + k] }
        }
      }
      return [Tensor(shape: x.shape, storage: gx)]
    }
  }
}
