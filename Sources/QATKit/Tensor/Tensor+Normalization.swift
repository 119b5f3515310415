extension Tensor {
  /// Layer normalization over the last dimension: `(x - mean) / sqrt(var + eps) · gamma + beta`
  /// with the biased variance, as PyTorch's `layer_norm`.
  ///
  /// One fused kernel per direction (``LayerNormKernels``) when `gamma` and `beta` are `nil` or
  /// vectors of the last dimension's size; other broadcastable shapes take the composite path.
  public func layerNorm(gamma: Tensor? = nil, beta: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
    let d = shape.last ?? 1
    guard rank >= 1, d > 0, gamma.map({ $0.shape == [d] }) ?? true, beta.map({ $0.shape == [d] }) ?? true else {
      return layerNormComposite(gamma: gamma, beta: beta, eps: eps)
    }
    let rows = count / d
    var mean = [Float](repeating: 0, count: rows), rstd = mean
    let y = [Float](unsafeUninitializedCapacity: count) { o, initialized in
      storage.withUnsafeBufferPointer { px in
        mean.withUnsafeMutableBufferPointer { pm in
          rstd.withUnsafeMutableBufferPointer { pr in
            Tensor.withOptionalBuffers(gamma, beta) { G, B in
              if let X = px.baseAddress, let O = o.baseAddress, let M = pm.baseAddress, let R = pr.baseAddress {
                LayerNormKernels.forward(X, gamma: G, beta: B, O, mean: M, rstd: R, rows: rows, d: d, eps: eps)
              }
            }
          }
        }
      }
      initialized = count
    }
    let x = self
    let inputs = [x] + [gamma, beta].compactMap { $0 }
    let (m, r) = (mean, rstd)
    return Tensor(shape: shape, storage: y).recording("layer_norm", inputs: inputs) { g in
      let wantGamma = gamma?.requiresGrad ?? false, wantBeta = beta?.requiresGrad ?? false
      var dgamma = [Float](repeating: 0, count: wantGamma ? d : 0)
      var dbeta = [Float](repeating: 0, count: wantBeta ? d : 0)
      let dx = [Float](unsafeUninitializedCapacity: x.count) { o, initialized in
        g.storage.withUnsafeBufferPointer { pg in
          x.storage.withUnsafeBufferPointer { px in
            m.withUnsafeBufferPointer { pm in
              r.withUnsafeBufferPointer { pr in
                dgamma.withUnsafeMutableBufferPointer { dg in
                  dbeta.withUnsafeMutableBufferPointer { db in
                    Tensor.withOptionalBuffers(gamma, nil) { G, _ in
                      if let Gr = pg.baseAddress, let X = px.baseAddress, let M = pm.baseAddress,
                        let R = pr.baseAddress, let O = o.baseAddress
                      {
                        LayerNormKernels.backward(
                          Gr, X, mean: M, rstd: R, gamma: G, dx: O, dgamma: wantGamma ? dg.baseAddress : nil,
                          dbeta: wantBeta ? db.baseAddress : nil, rows: rows, d: d)
                      }
                    }
                  }
                }
              }
            }
          }
        }
        initialized = x.count
      }
      var grads: [Tensor?] = [Tensor(shape: x.shape, storage: dx)]
      if let gamma { grads.append(wantGamma ? Tensor(shape: gamma.shape, storage: dgamma) : nil) }
      if let beta { grads.append(wantBeta ? Tensor(shape: beta.shape, storage: dbeta) : nil) }
      return grads
    }
  }

  /// Layer normalization composed of elementwise operations (any broadcastable `gamma` /
  /// `beta`); the reference the fused ``layerNorm(gamma:beta:eps:)`` is tested against.
  package func layerNormComposite(gamma: Tensor? = nil, beta: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
    let centered = self - mean(axis: -1, keepDims: true)
    let variance = (centered * centered).mean(axis: -1, keepDims: true)
    var y = centered / (variance + eps).sqrt()
    if let gamma { y = y * gamma }
    if let beta { y = y + beta }
    return y
  }

  /// Calls `body` with the base addresses of two optional tensors (`nil` when absent or empty).
  private static func withOptionalBuffers<R>(
    _ a: Tensor?, _ b: Tensor?, _ body: (UnsafePointer<Float>?, UnsafePointer<Float>?) -> R
  ) -> R {
    func withB(_ pa: UnsafePointer<Float>?) -> R {
      guard let b else { return body(pa, nil) }
      return b.storage.withUnsafeBufferPointer { body(pa, $0.baseAddress) }
    }
    guard let a else { return withB(nil) }
    return a.storage.withUnsafeBufferPointer { withB($0.baseAddress) }
  }

  /// Rows of `self` (a `[vocab, dim]` table) for each index: shape `indexShape + [dim]`.
  public func embedding(_ indices: [Int], indexShape: [Int]? = nil) -> Tensor {
    precondition(rank == 2, "embedding: table must be [vocab, dim], got \(shape)")
    let rows = gather(indices, axis: 0)
    return rows.reshapedUnchecked((indexShape ?? [indices.count]) + [shape[1]])
  }
}
