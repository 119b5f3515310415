/// Multi-head attention as three differentiable operations on the `[batch, tokens, heads·dh]`
/// layout the projections produce: each head's columns are read and written in place, so no
/// `[B, T, H, dh] → [B, H, T, dh]` permuted copy is ever made.
///
/// ```swift
/// let s = Tensor.attentionScores(query: q, key: k, heads: 12)          // [B, 12, T, T]
/// let p = s.maskedSoftmax(scale: 1 / Float(32).squareRoot(), keyMask: mask)
/// let context = Tensor.attentionContext(probabilities: p, value: v, heads: 12)  // [B, T, 384]
/// ```
///
/// Products run one (batch, head) pair per task on the worker pool (``GEMM`` strided
/// kernels); the softmax is one fused kernel (``SoftmaxKernels``).
extension Tensor {
  /// Raw attention scores `S[b, h, i, j] = Σ_c q[b, i, h·dh + c] · k[b, j, h·dh + c]`.
  ///
  /// - Parameters:
  ///   - query: `[B, Tq, D]`.
  ///   - key: `[B, Tk, D]`.
  ///   - heads: Number of heads; `D` must be a multiple of it.
  /// - Returns: `[B, heads, Tq, Tk]` (unscaled: pass the scale to ``maskedSoftmax(scale:keyMask:)``).
  public static func attentionScores(query q: Tensor, key k: Tensor, heads: Int) -> Tensor {
    precondition(q.rank == 3 && k.rank == 3, "attentionScores: query \(q.shape) and key \(k.shape) must be [B, T, D]")
    let (b, tq, d) = (q.shape[0], q.shape[1], q.shape[2])
    let tk = k.shape[1]
    precondition(k.shape[0] == b && k.shape[2] == d, "attentionScores: query \(q.shape) and key \(k.shape) differ")
    precondition(heads > 0 && d % heads == 0, "attentionScores: \(d) features do not split into \(heads) heads")
    let dh = d / heads
    let out = headProducts(count: b * heads * tq * tk, tasks: b * heads, flops: tq * tk * dh, scratch: GEMM.stridedScratchCount(n: tk, k: dh), q, k) { t, Q, K, O, s in
      let (bi, h) = (t / heads, t % heads)
      GEMM.stridedMultiply(Q + (bi * tq * d + h * dh), lda: d, transposeA: false,
                           K + (bi * tk * d + h * dh), ldb: d, transposeB: true,
                           O + t * tq * tk, ldc: tk, m: tq, n: tk, k: dh, scratch: s)
    }
    return Tensor(shape: [b, heads, tq, tk], storage: out).recording("attention_scores", inputs: [q, k]) { g in
      var gq: Tensor?
      var gk: Tensor?
      if q.requiresGrad {
        gq = Tensor(shape: q.shape, storage: headProducts(count: q.count, tasks: b * heads, flops: tq * tk * dh, scratch: GEMM.stridedScratchCount(n: dh, k: tk), g, k) { t, G, K, O, s in
          let (bi, h) = (t / heads, t % heads)
          GEMM.stridedMultiply(G + t * tq * tk, lda: tk, transposeA: false,
                               K + (bi * tk * d + h * dh), ldb: d, transposeB: false,
                               O + (bi * tq * d + h * dh), ldc: d, m: tq, n: dh, k: tk, scratch: s)
        })
      }
      if k.requiresGrad {
        gk = Tensor(shape: k.shape, storage: headProducts(count: k.count, tasks: b * heads, flops: tq * tk * dh, scratch: GEMM.stridedScratchCount(n: dh, k: tq), g, q) { t, G, Q, O, s in
          let (bi, h) = (t / heads, t % heads)
          GEMM.stridedMultiply(G + t * tq * tk, lda: tk, transposeA: true,
                               Q + (bi * tq * d + h * dh), ldb: d, transposeB: false,
                               O + (bi * tk * d + h * dh), ldc: d, m: tk, n: dh, k: tq, scratch: s)
        })
      }
      return [gq, gk]
    }
  }

  /// The attention output `out[b, i, h·dh + c] = Σ_j p[b, h, i, j] · v[b, j, h·dh + c]`.
  ///
  /// - Parameters:
  ///   - p: Probabilities `[B, heads, Tq, Tk]`.
  ///   - v: Values `[B, Tk, D]`.
  ///   - heads: Number of heads.
  /// - Returns: `[B, Tq, D]`, heads side by side as the output projection expects.
  public static func attentionContext(probabilities p: Tensor, value v: Tensor, heads: Int) -> Tensor {
    precondition(p.rank == 4 && v.rank == 3, "attentionContext: probabilities \(p.shape) must be [B, H, Tq, Tk], value \(v.shape) [B, Tk, D]")
    let (b, tq, tk) = (p.shape[0], p.shape[2], p.shape[3])
    let d = v.shape[2]
    precondition(p.shape[1] == heads && v.shape[0] == b && v.shape[1] == tk && heads > 0 && d % heads == 0,
                 "attentionContext: probabilities \(p.shape) and value \(v.shape) do not fit \(heads) heads")
    let dh = d / heads
    let out = headProducts(count: b * tq * d, tasks: b * heads, flops: tq * tk * dh, scratch: GEMM.stridedScratchCount(n: dh, k: tk), p, v) { t, P, V, O, s in
      let (bi, h) = (t / heads, t % heads)
      GEMM.stridedMultiply(P + t * tq * tk, lda: tk, transposeA: false,
                           V + (bi * tk * d + h * dh), ldb: d, transposeB: false,
                           O + (bi * tq * d + h * dh), ldc: d, m: tq, n: dh, k: tk, scratch: s)
    }
    return Tensor(shape: [b, tq, d], storage: out).recording("attention_context", inputs: [p, v]) { g in
      var gp: Tensor?
      var gv: Tensor?
      if p.requiresGrad {
        gp = Tensor(shape: p.shape, storage: headProducts(count: p.count, tasks: b * heads, flops: tq * tk * dh, scratch: GEMM.stridedScratchCount(n: tk, k: dh), g, v) { t, G, V, O, s in
          let (bi, h) = (t / heads, t % heads)
          GEMM.stridedMultiply(G + (bi * tq * d + h * dh), lda: d, transposeA: false,
                               V + (bi * tk * d + h * dh), ldb: d, transposeB: true,
                               O + t * tq * tk, ldc: tk, m: tq, n: tk, k: dh, scratch: s)
        })
      }
      if v.requiresGrad {
        gv = Tensor(shape: v.shape, storage: headProducts(count: v.count, tasks: b * heads, flops: tq * tk * dh, scratch: GEMM.stridedScratchCount(n: dh, k: tq), p, g) { t, P, G, O, s in
          let (bi, h) = (t / heads, t % heads)
          GEMM.stridedMultiply(P + t * tq * tk, lda: tk, transposeA: true,
                               G + (bi * tq * d + h * dh), ldb: d, transposeB: false,
                               O + (bi * tk * d + h * dh), ldc: d, m: tk, n: dh, k: tq, scratch: s)
        })
      }
      return [gp, gv]
    }
  }

  /// Softmax over the last axis of attention scores `[B, H, Tq, Tk]`, after multiplying by
  /// `scale`, with keys masked out per batch element.
  ///
  /// - Parameters:
  ///   - scale: Multiplies the scores first (`1/√dh` for attention).
  ///   - keyMask: `[B, Tk]`: nonzero keeps key `j` of batch element `b`; masked keys get
  ///     probability exactly 0 (a row with every key masked is all zeros). `nil` keeps all.
  public func maskedSoftmax(scale: Float = 1, keyMask: Tensor? = nil) -> Tensor {
    precondition(rank >= 2, "maskedSoftmax: needs [..., Tk], got \(shape)")
    let n = shape[rank - 1]
    let rows = n == 0 ? 0 : count / n
    var rowsPerMask = rows
    if let keyMask {
      precondition(keyMask.rank == 2 && keyMask.shape[1] == n && keyMask.shape[0] == shape[0],
                   "maskedSoftmax: key mask \(keyMask.shape) does not fit scores \(shape) ([B, Tk] expected)")
      rowsPerMask = shape[0] == 0 ? 1 : rows / shape[0]
    }
    let mask = keyMask?.storage ?? []
    let out = [Float](unsafeUninitializedCapacity: count) { o, initialized in
      storage.withUnsafeBufferPointer { s in
        mask.withUnsafeBufferPointer { m in
          if let S = s.baseAddress, let O = o.baseAddress {
            SoftmaxKernels.forward(
              S, O, rows: rows, n: n, scale: scale, mask: keyMask == nil ? nil : m.baseAddress,
              rowsPerMask: Swift.max(1, rowsPerMask))
          }
        }
      }
      initialized = count
    }
    let result = Tensor(shape: shape, storage: out)
    let y = out  // the values, not `result` (a cycle through its gradFn)
    return result.recording("masked_softmax", inputs: [self]) { g in
      let dx = [Float](unsafeUninitializedCapacity: y.count) { o, initialized in
        g.storage.withUnsafeBufferPointer { gp in
          y.withUnsafeBufferPointer { yp in
            if let G = gp.baseAddress, let Y = yp.baseAddress, let O = o.baseAddress {
              SoftmaxKernels.backward(G, Y, O, rows: rows, n: n, scale: scale)
            }
          }
        }
        initialized = y.count
      }
      return [Tensor(shape: g.shape, storage: dx)]
    }
  }

  /// Runs `body(task, A, B, out, scratch)` for `tasks` independent head products in parallel
  /// and returns the `count` output values (every one written by some task).
  private static func headProducts(
    count: Int, tasks: Int, flops: Int, scratch: Int, _ a: Tensor, _ b: Tensor,
    _ body: @escaping @Sendable (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { o, initialized in
      a.storage.withUnsafeBufferPointer { pa in
        b.storage.withUnsafeBufferPointer { pb in
          guard let A = pa.baseAddress, let B = pb.baseAddress, let O = o.baseAddress else {
            if let O = o.baseAddress { O.initialize(repeating: 0, count: count) }
            return
          }
          let sa = SendableConstPointer(A), sb = SendableConstPointer(B), so = SendablePointer(O)
          // About 64 KFLOP per task before a second thread pays off.
          let grain = Swift.max(1, 65_536 / Swift.max(1, flops))
          Parallel.forRanges(tasks, grain: grain) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Swift.max(1, scratch)) { s in
              for t in range { body(t, sa.base, sb.base, so.base, s.baseAddress!) }
            }
          }
        }
      }
      initialized = count
    }
  }
}
