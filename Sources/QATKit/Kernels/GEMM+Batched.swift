/// Small strided matrix products for attention: one product per (batch, head), reading the
/// head's columns straight out of `[batch, tokens, heads·dh]` activations (no permuted
/// copies), on one thread per product (callers run many products in parallel).
///
/// `C[m×n] = op(A)[m×k] · op(B)[k×n]` with leading dimensions:
/// - `op(A)[i, p]` is `A[i·lda + p]`, or `A[p·lda + i]` when `transposeA`;
/// - `op(B)[p, j]` is `B[p·ldb + j]`, or `B[j·ldb + p]` when `transposeB`;
/// - `C[i, j]` is `C[i·ldc + j]`.
///
/// `op(B)` is first copied into `scratch` as a `k × n16` row-major panel (`n16` = `n` rounded
/// up to 16, zero-filled), small enough for L1 at attention sizes (`dh × T` or `T × dh`). The
/// micro-kernel then keeps a 4-row × 32-column tile in eight `SIMD16<Float>` accumulators,
/// broadcasting one `op(A)` value per row and step. The GEMM's own packed kernels (``GEMM``)
/// are for large products; these matrices are 32-128 wide and there are hundreds of them.
extension GEMM {
  /// Floats of scratch ``stridedMultiply(_:lda:transposeA:_:ldb:transposeB:_:ldc:m:n:k:scratch:)``
  /// needs for `op(B)` of `k × n`.
  package static func stridedScratchCount(n: Int, k: Int) -> Int { k &* ((n &+ 15) & ~15) }

  /// `C = op(A)·op(B)` on the calling thread (see the extension's documentation). `C` is
  /// overwritten; `scratch` holds at least ``stridedScratchCount(n:k:)`` floats.
  package static func stridedMultiply(
    _ A: UnsafePointer<Float>, lda: Int, transposeA: Bool,
    _ B: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
    _ C: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int,
    scratch: UnsafeMutablePointer<Float>
  ) {
    if m == 0 || n == 0 { return }
    if k == 0 {
      for i in 0..<m { (C + i &* ldc).update(repeating: 0, count: n) }
      return
    }
    let n16 = (n &+ 15) & ~15
    // Pack op(B) into k × n16, zero-padded.
    for p in 0..<k {
      let dst = scratch + p &* n16
      if transposeB {
        var src = B + p
        for j in 0..<n {
          dst[j] = src.pointee
          src += ldb
        }
      } else {
        (dst).update(from: B + p &* ldb, count: n)
      }
      if n16 > n { (dst + n).update(repeating: 0, count: n16 &- n) }
    }
    // op(A)[i, p] = rowBase(i)[p · stepP].
    let stepP = transposeA ? lda : 1
    var i0 = 0
    while i0 < m {
      let rows = Swift.min(4, m &- i0)
      // Rows past the end repeat the last row (computed, never stored).
      let r0 = i0, r1 = i0 &+ Swift.min(1, rows &- 1), r2 = i0 &+ Swift.min(2, rows &- 1), r3 = i0 &+ Swift.min(3, rows &- 1)
      let a0 = transposeA ? A + r0 : A + r0 &* lda
      let a1 = transposeA ? A + r1 : A + r1 &* lda
      let a2 = transposeA ? A + r2 : A + r2 &* lda
      let a3 = transposeA ? A + r3 : A + r3 &* lda
      var j0 = 0
      while j0 < n16 {
        let wide = n16 &- j0 >= 32
        let bp = UnsafeRawPointer(scratch + j0)
        let rowBytes = n16 &* 4
        var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
        var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
        var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
        var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
        var off = 0
        if wide {
          for p in 0..<k {
            let b0 = bp.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
            let b1 = bp.loadUnaligned(fromByteOffset: off &+ 64, as: SIMD16<Float>.self)
            let q = p &* stepP
            var av = SIMD16<Float>(repeating: a0[q])
            multiplyAdd(&c00, av, b0); multiplyAdd(&c01, av, b1)
            av = SIMD16<Float>(repeating: a1[q])
            multiplyAdd(&c10, av, b0); multiplyAdd(&c11, av, b1)
            av = SIMD16<Float>(repeating: a2[q])
            multiplyAdd(&c20, av, b0); multiplyAdd(&c21, av, b1)
            av = SIMD16<Float>(repeating: a3[q])
            multiplyAdd(&c30, av, b0); multiplyAdd(&c31, av, b1)
            off &+= rowBytes
          }
        } else {
          for p in 0..<k {
            let b0 = bp.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
            let q = p &* stepP
            multiplyAdd(&c00, SIMD16<Float>(repeating: a0[q]), b0)
            multiplyAdd(&c10, SIMD16<Float>(repeating: a1[q]), b0)
            multiplyAdd(&c20, SIMD16<Float>(repeating: a2[q]), b0)
            multiplyAdd(&c30, SIMD16<Float>(repeating: a3[q]), b0)
            off &+= rowBytes
          }
        }
        let cols = Swift.min(wide ? 32 : 16, n &- j0)
        @inline(__always) func put(_ r: Int, _ v0: SIMD16<Float>, _ v1: SIMD16<Float>) {
          let dst = C + ((i0 &+ r) &* ldc &+ j0)
          if cols == 32 {
            UnsafeMutableRawPointer(dst).storeBytes(of: v0, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(dst + 16).storeBytes(of: v1, as: SIMD16<Float>.self)
          } else if cols == 16 {
            UnsafeMutableRawPointer(dst).storeBytes(of: v0, as: SIMD16<Float>.self)
          } else {
            for j in 0..<Swift.min(16, cols) { dst[j] = v0[j] }
            if cols > 16 { for j in 16..<cols { dst[j] = v1[j &- 16] } }
          }
        }
        put(0, c00, c01)
        if rows > 1 { put(1, c10, c11) }
        if rows > 2 { put(2, c20, c21) }
        if rows > 3 { put(3, c30, c31) }
        j0 &+= wide ? 32 : 16
      }
      i0 &+= 4
    }
  }

  /// Plain triple loop of ``stridedMultiply(_:lda:transposeA:_:ldb:transposeB:_:ldc:m:n:k:scratch:)``
  /// with `Double` accumulation, for tests; writes only `C[i·ldc + j]` for `i < m, j < n`.
  package static func stridedReference(
    _ A: [Float], lda: Int, transposeA: Bool, _ B: [Float], ldb: Int, transposeB: Bool,
    _ C: inout [Float], ldc: Int, m: Int, n: Int, k: Int
  ) {
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k {
          let a = transposeA ? A[p * lda + i] : A[i * lda + p]
          let b = transposeB ? B[j * ldb + p] : B[p * ldb + j]
          s += Double(a) * Double(b)
        }
        C[i * ldc + j] = Float(s)
      }
    }
  }
}
