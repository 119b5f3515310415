extension Tensor {
  /// Softmax along `axis`, computed stably (the maximum is subtracted first).
  public func softmax(axis: Int = -1) -> Tensor {
    let a = axisIndex(axis, "softmax")
    let out = Tensor(shape: shape, storage: softmaxValues(axis: a, log: false))
    let (outer, n, inner) = split(at: a)
    let y = out.storage, outShape = out.shape  // not `out` itself: that would be a cycle
    return out.recording("softmax", inputs: [self]) { g in
      // dx = y * (g - sum(g * y))
      var dx = [Float](repeating: 0, count: y.count)
      for i in 0..<outer {
        for r in 0..<inner {
          var dot: Float = 0
          for k in 0..<n { let j = (i * n + k) * inner + r; dot += g.storage[j] * y[j] }
          for k in 0..<n { let j = (i * n + k) * inner + r; dx[j] = y[j] * (g.storage[j] - dot) }
        }
      }
      return [Tensor(shape: outShape, storage: dx)]
    }
  }

  /// Log-softmax along `axis`, computed stably (log-sum-exp with the maximum subtracted).
  public func logSoftmax(axis: Int = -1) -> Tensor {
    let a = axisIndex(axis, "logSoftmax")
    let out = Tensor(shape: shape, storage: softmaxValues(axis: a, log: true))
    let (outer, n, inner) = split(at: a)
    let y = out.storage, outShape = out.shape  // not `out` itself: that would be a cycle
    return out.recording("logSoftmax", inputs: [self]) { g in
      // dx = g - softmax * sum(g)
      var dx = [Float](repeating: 0, count: y.count)
      for i in 0..<outer {
        for r in 0..<inner {
          var s: Float = 0
          for k in 0..<n { s += g.storage[(i * n + k) * inner + r] }
          for k in 0..<n { let j = (i * n + k) * inner + r; dx[j] = g.storage[j] - _expf(y[j]) * s }
        }
      }
      return [Tensor(shape: outShape, storage: dx)]
    }
  }

  private func softmaxValues(axis a: Int, log: Bool) -> [Float] {
    let (outer, n, inner) = split(at: a)
    var out = [Float](repeating: 0, count: count)
    storage.withUnsafeBufferPointer { p in
      out.withUnsafeMutableBufferPointer { o in
        for i in 0..<outer {
          for r in 0..<inner {
            var m = -Float.infinity
            for k in 0..<n { m = Swift.max(m, p[(i * n + k) * inner + r]) }
            if m == -.infinity { m = 0 }
            var s: Float = 0
            for k in 0..<n {
              let j = (i * n + k) * inner + r
              let e = _expf(p[j] - m)
              o[j] = e
              s += e
            }
            if log {
              let ls = _logf(s) + m
              for k in 0..<n { let j = (i * n + k) * inner + r; o[j] = p[j] - ls }
            } else {
              let inv = 1 / s
              for k in 0..<n { o[(i * n + k) * inner + r] *= inv }
            }
          }
        }
      }
    }
    return out
  }
}
