extension Tensor {
  /// Normalizes a possibly negative axis, trapping with a message when out of range.
  package func axisIndex(_ axis: Int, _ op: String) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < Swift.max(rank, 1), "\(op): axis \(axis) out of range for shape \(shape)")
    return a
  }

  /// `(outer, n, inner)` extents around `axis`.
  package func split(at axis: Int) -> (outer: Int, n: Int, inner: Int) {
    (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
  }

  /// Repeats this tensor along broadcast dimensions to `target`.
  public func broadcast(to target: [Int]) -> Tensor {
    if shape == target { return self }
    precondition(Broadcast.shape(shape, target) == target, "broadcast: \(shape) does not broadcast to \(target)")
    let zeros = Tensor(shape: target, storage: [Float](repeating: 0, count: target.reduce(1, *)))
    let x = self
    return Tensor(shape: target, storage: Broadcast.apply(AddKernel.self, zeros, x, outShape: target))
      .recording("broadcast", inputs: [x]) { g in [Broadcast.sum(g, to: x.shape)] }
  }

  /// Sum of all elements, as a scalar.
  public func sum() -> Tensor {
    let x = self
    return Tensor(scalar: Kernels.sum(storage)).recording("sum", inputs: [x]) { g in
      [Tensor(shape: x.shape, storage: [Float](repeating: g.item, count: x.count))]
    }
  }

  /// Mean of all elements, as a scalar.
  public func mean() -> Tensor { sum() / Float(Swift.max(count, 1)) }

  /// Sum along `axis`.
  public func sum(axis: Int, keepDims: Bool = false) -> Tensor {
    let a = axisIndex(axis, "sum")
    let (outer, n, inner) = split(at: a)
    var out = [Float](repeating: 0, count: outer * inner)
    storage.withUnsafeBufferPointer { p in
      out.withUnsafeMutableBufferPointer { o in
        guard let P = p.baseAddress, let O = o.baseAddress else { return }
        for i in 0..<outer {
          if inner == 1 {
            O[i] = Kernels.sum(P + i * n, n)
          } else {
            for k in 0..<n {
              Elementwise.vv(AddKernel.self, O + i * inner, P + (i * n + k) * inner, O + i * inner, inner)
            }
          }
        }
      }
    }
    var keepShape = shape
    keepShape[a] = 1
    let x = self
    let result = Tensor(shape: keepShape, storage: out).recording("sum(axis)", inputs: [x]) { g in
      [g.reshapedUnchecked(keepShape).broadcast(to: x.shape)]
    }
    return keepDims ? result : result.reshapedUnchecked(shape.enumerated().filter { $0.offset != a }.map(\.element))
  }

  /// Mean along `axis`.
  public func mean(axis: Int, keepDims: Bool = false) -> Tensor {
    sum(axis: axis, keepDims: keepDims) / Float(Swift.max(shape[axisIndex(axis, "mean")], 1))
  }

  /// Index of the largest value along `axis` (first on ties), as `Int`s in row-major order.
  public func argmax(axis: Int = -1) -> [Int] { extremum(axis: axis, largest: true).indices }

  /// Largest value along `axis`; the gradient flows to the first maximal element.
  public func max(axis: Int, keepDims: Bool = false) -> Tensor { reduceExtremum(axis, keepDims, largest: true) }

  /// Smallest value along `axis`; the gradient flows to the first minimal element.
  public func min(axis: Int, keepDims: Bool = false) -> Tensor { reduceExtremum(axis, keepDims, largest: false) }

  /// Largest absolute value along `axis` (no gradient): the range statistic of quantizers.
  public func absMax(axis: Int, keepDims: Bool = false) -> Tensor {
    Tensor.withoutGrad { abs().max(axis: axis, keepDims: keepDims) }.detach()
  }

  /// Largest absolute value of all elements (no gradient).
  public func absMax() -> Float {
    storage.withUnsafeBufferPointer { p in p.baseAddress.map { Kernels.absMax($0, p.count) } ?? 0 }
  }

  private func reduceExtremum(_ axis: Int, _ keepDims: Bool, largest: Bool) -> Tensor {
    let a = axisIndex(axis, largest ? "max" : "min")
    let (values, indices) = extremum(axis: a, largest: largest)
    var keepShape = shape
    keepShape[a] = 1
    let (_, n, inner) = split(at: a)
    let x = self
    let result = Tensor(shape: keepShape, storage: values).recording(largest ? "max" : "min", inputs: [x]) { g in
      var gx = [Float](repeating: 0, count: x.count)
      for (j, idx) in indices.enumerated() {
        let i = j / inner, r = j % inner
        gx[(i * n + idx) * inner + r] += g.storage[j]
      }
      return [Tensor(shape: x.shape, storage: gx)]
    }
    return keepDims ? result : result.reshapedUnchecked(shape.enumerated().filter { $0.offset != a }.map(\.element))
  }

  private func extremum(axis: Int, largest: Bool) -> (values: [Float], indices: [Int]) {
    let a = axisIndex(axis, "argmax")
    let (outer, n, inner) = split(at: a)
    precondition(n > 0, "reduction over empty axis \(a) of \(shape)")
    var values = [Float](repeating: 0, count: outer * inner)
    var indices = [Int](repeating: 0, count: outer * inner)
    storage.withUnsafeBufferPointer { p in
      for i in 0..<outer {
        for r in 0..<inner {
          var best = p[i * n * inner + r], bi = 0
          for k in 1..<Swift.max(n, 1) {
            let v = p[(i * n + k) * inner + r]
            if largest ? v > best : v < best { best = v; bi = k }
          }
          values[i * inner + r] = best
          indices[i * inner + r] = bi
        }
      }
    }
    return (values, indices)
  }
}
