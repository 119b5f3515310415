extension Tensor {
  /// Matrix product: `[m,k]·[k,n]`, or batched `[…,m,k]·[…,k,n]` with equal batch
  /// dimensions, or `[…,m,k]·[k,n]` (the right matrix shared by every batch).
  public func matmul(_ other: Tensor) -> Tensor {
    Tensor.matmul(self, other, transposeB: false)
  }

  /// `a · bᵀ` for `a [m,k]` and `b [n,k]`, without materializing the transpose (the layout of
  /// `Linear`); batched like ``matmul(_:)``.
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
    var out = [Float](unsafeUninitializedCapacity: batches * m * n) { buf, count in
      count = buf.count
    }
    a.storage.withUnsafeBufferPointer { pa in
      b.storage.withUnsafeBufferPointer { pb in
        out.withUnsafeMutableBufferPointer { po in
          guard let O = po.baseAddress else { return }
          guard let A = pa.baseAddress, let B = pb.baseAddress else {
            O.update(repeating: 0, count: po.count)  // k == 0
            return
          }
          if shared {
            // Every batch uses the same right matrix: one GEMM over batches·m rows.
            GEMM.multiply(A, B, O, m: batches * m, n: n, k: k, transposeB: transposeB)
          } else {
            for bi in 0..<batches {
              GEMM.multiply(A + bi * m * k, B + bi * k * n, O + bi * m * n, m: m, n: n, k: k,
                            transposeB: transposeB)
            }
          }
        }
      }
    }
    let result = Tensor(shape: batchA + [m, n], storage: out)
    return result.recording("matmul", inputs: [a, b]) { g in
      // C = A·op(B) with op(B) = B or Bᵀ:
      //   dA = G·op(B)ᵀ  → G·Bᵀ (NT) or G·B (NN);
      //   dB = Aᵀ·G (TN), or for op(B) = Bᵀ: dB = Gᵀ·A (TN); summed over batches when shared.
      var ga: Tensor?
      var gb: Tensor?
      let rowsA = shared ? batches * m : m
      let perBatch = shared ? 1 : batches
      if a.requiresGrad {
        ga = product(count: batches * m * k, shape: a.shape) { G, B, O in
          for bi in 0..<perBatch {
            GEMM.multiply(G + bi * m * n, B + bi * n * k, O + bi * m * k, m: rowsA, n: k, k: n,
                          transposeB: !transposeB)
          }
        }(g, b)
      }
      if b.requiresGrad {
        gb = product(count: b.count, shape: b.shape) { A, G, O in
          for bi in 0..<perBatch {
            if transposeB {
              // dB [n,k] = Gᵀ [n, rows] · A [rows, k]
              GEMM.multiply(G + bi * m * n, A + bi * m * k, O + bi * n * k, m: n, n: k, k: rowsA,
                            transposeA: true)
            } else {
              // dB [k,n] = Aᵀ [k, rows] · G [rows, n]
              GEMM.multiply(A + bi * m * k, G + bi * m * n, O + bi * k * n, m: k, n: n, k: rowsA,
                            transposeA: true)
            }
          }
        }(a, g)
      }
      return [ga, gb]
    }
  }

  /// Runs `body` on the buffers of two tensors and a fresh output of `count` values, and
  /// wraps the output in a tensor of `shape`. `body` writes every output value (the GEMM zeroes
  /// its output for an empty inner dimension); an empty input gives zeros.
  private static func product(
    count: Int, shape: [Int],
    _ body: @escaping (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) -> (Tensor, Tensor) -> Tensor {
    { x, y in
      let out = [Float](unsafeUninitializedCapacity: count) { po, initialized in
        x.storage.withUnsafeBufferPointer { px in
          y.storage.withUnsafeBufferPointer { py in
            guard let O = po.baseAddress else { return }
            guard let X = px.baseAddress, let Y = py.baseAddress else {
              O.initialize(repeating: 0, count: count)
              return
            }
            body(X, Y, O)
          }
        }
        initialized = count
      }
      return Tensor(shape: shape, storage: out)
    }
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
