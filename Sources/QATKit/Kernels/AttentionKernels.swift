/// Fused multi-head attention for inference: per (batch element, head), `S = Q·Kᵀ`, the scaled,
/// masked softmax of `S` and `P·V`, with `S`/`P` in one per-task scratch buffer
/// (`Tq × Tk` floats, 64 KiB at 128 tokens, so it stays in L2) instead of a materialized
/// `[B, H, Tq, Tk]` tensor written and read three times.
///
/// Layout (row-major, leading dimensions in floats): `q[b, i, h·dh + c] = q[(b·Tq + i)·ldq + h·dh + c]`,
/// `k` and `v` likewise with `Tk` rows per batch element, the output `o` likewise with `Tq`. So
/// the heads are read and written in place, and `q`, `k`, `v` may be column blocks of one fused
/// projection output (`ld = 3·D`). The key mask has one row of `Tk` values per batch element
/// (nonzero keeps the key; masked keys get probability exactly 0, a query whose keys are all
/// masked gets a zero output).
///
/// The arithmetic is that of ``Tensor/attentionScores(query:key:heads:)``,
/// ``Tensor/maskedSoftmax(scale:keyMask:)`` and ``Tensor/attentionContext(probabilities:value:heads:)``
/// (the same ``GEMM`` strided products and softmax rows on the same values), so without a mask
/// the result is bit for bit theirs. With a mask, the keys after a batch element's last kept key
/// (padding) are skipped — their probabilities are exactly 0 — which changes only the order of
/// the softmax's sum (a few ulp); ``reference(query:ldq:key:ldk:value:ldv:out:ldo:batch:queries:keys:heads:headDimension:scale:keyMask:)``
/// is the plain loop the tests also compare against. No gradient (inference only).
package enum AttentionKernels {
  /// Floats of scratch one task of ``forward(query:ldq:key:ldk:value:ldv:out:ldo:batch:queries:keys:heads:headDimension:scale:keyMask:)`` uses.
  static func scratchCount(queries tq: Int, keys tk: Int, headDimension dh: Int) -> Int {
    tq &* tk &+ Swift.max(GEMM.stridedScratchCount(n: tk, k: dh), GEMM.stridedScratchCount(n: dh, k: tk))
  }

  /// Writes the attention output of `batch` elements × `heads` heads into `o` (see the type's
  /// layout); one (element, head) pair per task on the worker pool.
  package static func forward(
    query q: UnsafePointer<Float>, ldq: Int, key k: UnsafePointer<Float>, ldk: Int,
    value v: UnsafePointer<Float>, ldv: Int, out o: UnsafeMutablePointer<Float>, ldo: Int,
    batch: Int, queries tq: Int, keys tk: Int, heads: Int, headDimension dh: Int, scale: Float,
    keyMask: UnsafePointer<Float>?
  ) {
    guard batch > 0, tq > 0, heads > 0, dh > 0 else { return }
    let sq = SendableConstPointer(q), sk = SendableConstPointer(k), sv = SendableConstPointer(v)
    let so = SendablePointer(o), sm = keyMask.map(SendableConstPointer.init)
    let scratch = scratchCount(queries: tq, keys: tk, headDimension: dh)
    // Two products of tq·tk·dh multiply-adds per task: one task is already worth a thread.
    Parallel.forRanges(batch &* heads, grain: 1) { range in
      withUnsafeTemporaryAllocation(of: Float.self, capacity: Swift.max(1, scratch)) { buffer in
        let s = buffer.baseAddress!, packing = s + tq &* tk
        for t in range {
          let (b, h) = (t / heads, t % heads)
          let qh = sq.base + (b &* tq &* ldq &+ h &* dh), kh = sk.base + (b &* tk &* ldk &+ h &* dh)
          let vh = sv.base + (b &* tk &* ldv &+ h &* dh), oh = so.base + (b &* tq &* ldo &+ h &* dh)
          // Trailing masked keys (padding) are skipped: their probabilities are exactly 0.
          let mask = sm.map { $0.base + b &* tk }
          var keys = tk
          if let mask { while keys > 0 && mask[keys &- 1] == 0 { keys &-= 1 } }
          if keys == 0 {
            for i in 0..<tq { (oh + i &* ldo).update(repeating: 0, count: dh) }
            continue
          }
          GEMM.stridedMultiply(qh, lda: ldq, transposeA: false, kh, ldb: ldk, transposeB: true,
                               s, ldc: keys, m: tq, n: keys, k: dh, scratch: packing)
          SoftmaxKernels.forwardRows(0..<tq, s, s, n: keys, scale: scale, mask: mask, rowsPerMask: tq)
          GEMM.stridedMultiply(s, lda: keys, transposeA: false, vh, ldb: ldv, transposeB: false,
                               oh, ldc: ldo, m: tq, n: dh, k: keys, scratch: packing)
        }
      }
    }
  }

  /// The plain loops of ``forward(query:ldq:key:ldk:value:ldv:out:ldo:batch:queries:keys:heads:headDimension:scale:keyMask:)``
  /// (`Double` sums and `exp`), for tests.
  package static func reference(
    query q: UnsafePointer<Float>, ldq: Int, key k: UnsafePointer<Float>, ldk: Int,
    value v: UnsafePointer<Float>, ldv: Int, out o: UnsafeMutablePointer<Float>, ldo: Int,
    batch: Int, queries tq: Int, keys tk: Int, heads: Int, headDimension dh: Int, scale: Float,
    keyMask: UnsafePointer<Float>?
  ) {
    var p = [Double](repeating: 0, count: tk)
    for b in 0..<batch {
      for h in 0..<heads {
        for i in 0..<tq {
          var m = -Double.infinity
          for j in 0..<tk {
            if let keyMask, keyMask[b * tk + j] == 0 { p[j] = -.infinity; continue }
            var dot = 0.0
            for c in 0..<dh { dot += Double(q[(b * tq + i) * ldq + h * dh + c]) * Double(k[(b * tk + j) * ldk + h * dh + c]) }
            p[j] = dot * Double(scale)
            m = Swift.max(m, p[j])
          }
          var sum = 0.0
          for j in 0..<tk {
            p[j] = m == -.infinity ? 0 : _exp(p[j] - m)
            sum += p[j]
          }
          for c in 0..<dh {
            var acc = 0.0
            for j in 0..<tk where p[j] != 0 { acc += p[j] / sum * Double(v[(b * tk + j) * ldv + h * dh + c]) }
            o[(b * tq + i) * ldo + h * dh + c] = Float(acc)
          }
        }
      }
    }
  }
}
