import QATKit

/// The sentence-transformers head: mean pooling over real tokens and L2 normalization.
extension Tensor {
  /// The mean over tokens where `mask` is nonzero: `self [N, T, D]`, `mask [N, T]` → `[N, D]`
  /// (sentence-transformers' `Pooling(mean)`: the masked sum divided by `max(count, 1e-9)`).
  public func maskedMeanOverTokens(_ mask: Tensor) -> Tensor {
    precondition(rank == 3 && mask.shape == [shape[0], shape[1]],
                 "maskedMeanOverTokens: hidden \(shape) and mask \(mask.shape) must be [N, T, D] and [N, T]")
    let (n, t, d) = (shape[0], shape[1], shape[2])
    let m = mask.storage
    // Tokens kept per sentence, clamped away from 0 as sentence-transformers does.
    let denominators = (0..<n).map { i -> Float in
      Swift.max(Float(m[(i * t)..<(i * t + t)].reduce(0) { $0 + ($1 != 0 ? 1 : 0) }), 1e-9)
    }
    var out = [Float](repeating: 0, count: n * d)
    storage.withUnsafeBufferPointer { h in
      out.withUnsafeMutableBufferPointer { o in
        for i in 0..<n {
          // Sum first, then divide, as sentence-transformers.
          let row = o.baseAddress! + i * d
          for j in 0..<t where m[i * t + j] != 0 {
            let src = h.baseAddress! + (i * t + j) * d
            for c in 0..<d { row[c] += src[c] }
          }
          for c in 0..<d { row[c] /= denominators[i] }
        }
      }
    }
    let shape = self.shape
    return Tensor(shape: [n, d], storage: out).recording("masked_mean_tokens", inputs: [self]) { g in
      var dx = [Float](repeating: 0, count: n * t * d)
      for i in 0..<n {
        for j in 0..<t where m[i * t + j] != 0 {
          for c in 0..<d { dx[(i * t + j) * d + c] = g.storage[i * d + c] / denominators[i] }
        }
      }
      return [Tensor(shape: shape, storage: dx)]
    }
  }

  /// Each row divided by `max(‖row‖₂, eps)` (PyTorch's `F.normalize(p=2, dim=-1)`).
  public func l2NormalizedRows(eps: Float = 1e-12) -> Tensor {
    precondition(rank >= 1, "l2NormalizedRows: needs at least one dimension")
    let d = shape[rank - 1]
    let rows = d == 0 ? 0 : count / d
    var norms = [Float](repeating: 0, count: rows)
    var out = storage
    for r in 0..<rows {
      var s: Float = 0
      for c in 0..<d { let v = storage[r * d + c]; s += v * v }
      let norm = Swift.max(s.squareRoot(), eps)
      norms[r] = norm
      for c in 0..<d { out[r * d + c] /= norm }
    }
    let y = out, clipped = norms.indices.map { norms[$0] == eps }
    return Tensor(shape: shape, storage: out).recording("l2_normalize", inputs: [self]) { g in
      // y = x / n: dx = (g − y·(g·y)) / n, or g / eps where the norm was clipped.
      var dx = [Float](repeating: 0, count: y.count)
      for r in 0..<rows {
        var dot: Float = 0
        if !clipped[r] { for c in 0..<d { dot += g.storage[r * d + c] * y[r * d + c] } }
        for c in 0..<d { dx[r * d + c] = (g.storage[r * d + c] - y[r * d + c] * dot) / norms[r] }
      }
      return [Tensor(shape: g.shape, storage: dx)]
    }
  }
}
