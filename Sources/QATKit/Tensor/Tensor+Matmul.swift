extension Tensor {
  /// Matrix product: `[m,k]·[k,n]`, or batched `[…,m,k]·[…,k,n]` with equal batch
  /// dimensions, or `[…,m,k]·[k,n]` (the right matrix shared by every batch).
  public func matmul(_ other: Tensor) -> Tensor {
    Tensor.matmul(self, other, transposeB: false)
  }

  /// `a · bᵀ` for `a [m,k]` and `b [n,k]`, without materializing the transpose in the graph
  /// (the layout of `Linear`).
  public static func matmul(_ a: Tensor, transposed b: Tensor) -> Tensor {
    matmul(a, b, transposeB: true)
  }

  private static func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool) -> Tensor {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank ≥ 2, got \(a.shape) and \(b.shape)")
    let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
    let kb = transposeB ? b.shape[b.rank - 1] : b.shape[b.rank - 2]
    let n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
    precondition(k == kb, "matmul: inner dimensions differ: \(a.shape) · \(b.shape)\(transposeB ? "ᵀ" : "")")
    let batchA = Array(a.shape.dropLast(2))
    let batchB = Array(b.shape.dropLast(2))
    precondition(batchB.isEmpty || batchB == batchA, "matmul: batch dimensions \(batchA) and \(batchB) differ")
    let batches = batchA.reduce(1, *)
    let shared = batchB.isEmpty
    var out = [Float](repeating: 0, count: batches * m * n)
    // Materialize Bᵀ once (row-major [k, n]) so the kernel always runs NN.
    let bT: [Float]? = transposeB ? Tensor.transposeMatrices(b.storage, count: shared ? 1 : batches, rows: n, cols: k) : nil
    a.storage.withUnsafeBufferPointer { pa in
      (bT ?? b.storage).withUnsafeBufferPointer { pb in
        out.withUnsafeMutableBufferPointer { po in
          guard let A = pa.baseAddress, let B = pb.baseAddress, let O = po.baseAddress else { return }
          for bi in 0..<batches {
            GEMM.multiply(A + bi * m * k, B + (shared ? 0 : bi * k * n), O + bi * m * n, m: m, n: n, k: k)
          }
        }
      }
    }
    let result = Tensor(shape: batchA + [m, n], storage: out)
    return result.recording("matmul", inputs: [a, b]) { g in
      // C = A·B': dA = G·B'ᵀ, dB' = Aᵀ·G (summed over batches when B is shared).
      var ga: Tensor?
      var gb: Tensor?
      if a.requiresGrad {
        ga = transposeB ? matmul(g, b, transposeB: false) : matmul(g, b, transposeB: true)
      }
      if b.requiresGrad {
        let aT = a.detach().transposed()
        let g2 = g.detach()
        if shared {
          let a2 = aT.rank > 2 ? Tensor.foldBatches(aT, lastTwo: (k, batches * m)) : aT
          let gg = g2.rank > 2 ? g2.reshapedUnchecked([batches * m, n]) : g2
          let prod = matmul(a2, gg, transposeB: false)  // [k, n]
          gb = transposeB ? prod.transposed() : prod
        } else {
          let prod = matmul(aT, g2, transposeB: false)  // [..., k, n]
          gb = transposeB ? prod.transposed() : prod
        }
      }
      return [ga, gb]
    }
  }

  /// `[batches, k, m]` → `[k, batches·m]` for summing a shared weight's gradient.
  private static func foldBatches(_ t: Tensor, lastTwo: (Int, Int)) -> Tensor {
    let r = t.rank
    var order = Array(0..<r)
    order.remove(at: r - 2)
    order.insert(r - 2, at: 0)
    return t.permuted(order).reshapedUnchecked([lastTwo.0, lastTwo.1])
  }

  package static func transposeMatrices(_ src: [Float], count: Int, rows: Int, cols: Int) -> [Float] {
    var dst = [Float](repeating: 0, count: src.count)
    src.withUnsafeBufferPointer { s in
      dst.withUnsafeMutableBufferPointer { d in
        guard let S = s.baseAddress, let D = d.baseAddress else { return }
        for i in 0..<count {
          GEMM.transpose(S + i * rows * cols, D + i * rows * cols, rows: rows, cols: cols)
        }
      }
    }
    return dst
  }
}
