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
/// broadcasting one `op(A)` value per row and step (with `QATKIT_AVX512`, an 8-row tile in
/// sixteen, the same values). The GEMM's own packed kernels (``GEMM``)
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
    #if QATKIT_AVX512
    while m &- i0 >= 8 {
      strided8Rows(A + (transposeA ? i0 : i0 &* lda), stepI: transposeA ? 1 : lda, stepP: stepP, scratch, n16: n16,
                   C + i0 &* ldc, ldc: ldc, n: n, k: k)
      i0 &+= 8
    }
    #endif
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

  #if QATKIT_AVX512
  /// Eight rows of `C` (`C[r·ldc + j]`, `r < 8`, `j < n`) from `op(A)[r, p] = A[r·stepI + p·stepP]`
  /// and the packed `k × n16` panel: 32 columns in 16 `SIMD16<Float>` accumulators (zmm registers)
  /// per pass, eight broadcasts and two loads per `p`, then a 16-column pass for the rest. Each
  /// element is the same FMA chain over `p` as the 4-row kernel's, so the values are identical.
  private static func strided8Rows(
    _ A: UnsafePointer<Float>, stepI: Int, stepP: Int, _ panel: UnsafePointer<Float>, n16: Int,
    _ C: UnsafeMutablePointer<Float>, ldc: Int, n: Int, k: Int
  ) {
    let a0 = A, a1 = A + stepI, a2 = A + 2 &* stepI, a3 = A + 3 &* stepI
    let a4 = A + 4 &* stepI, a5 = A + 5 &* stepI, a6 = A + 6 &* stepI, a7 = A + 7 &* stepI
    let rowBytes = n16 &* 4
    @inline(__always) func put(_ r: Int, _ j0: Int, _ cols: Int, _ v: SIMD16<Float>) {
      let dst = C + (r &* ldc &+ j0)
      if cols >= 16 {
        UnsafeMutableRawPointer(dst).storeBytes(of: v, as: SIMD16<Float>.self)
      } else {
        for j in 0..<cols { dst[j] = v[j] }
      }
    }
    var j0 = 0
    while n16 &- j0 >= 32 {
      let bp = UnsafeRawPointer(panel + j0)
      var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
      var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
      var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
      var c60 = SIMD16<Float>(), c61 = SIMD16<Float>(), c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
      var off = 0
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
        av = SIMD16<Float>(repeating: a4[q])
        multiplyAdd(&c40, av, b0); multiplyAdd(&c41, av, b1)
        av = SIMD16<Float>(repeating: a5[q])
        multiplyAdd(&c50, av, b0); multiplyAdd(&c51, av, b1)
        av = SIMD16<Float>(repeating: a6[q])
        multiplyAdd(&c60, av, b0); multiplyAdd(&c61, av, b1)
        av = SIMD16<Float>(repeating: a7[q])
        multiplyAdd(&c70, av, b0); multiplyAdd(&c71, av, b1)
        off &+= rowBytes
      }
      let cols = Swift.min(32, n &- j0)
      put(0, j0, cols, c00); put(1, j0, cols, c10); put(2, j0, cols, c20); put(3, j0, cols, c30)
      put(4, j0, cols, c40); put(5, j0, cols, c50); put(6, j0, cols, c60); put(7, j0, cols, c70)
      if cols > 16 {
        let j1 = j0 &+ 16, rest = cols &- 16
        put(0, j1, rest, c01); put(1, j1, rest, c11); put(2, j1, rest, c21); put(3, j1, rest, c31)
        put(4, j1, rest, c41); put(5, j1, rest, c51); put(6, j1, rest, c61); put(7, j1, rest, c71)
      }
      j0 &+= 32
    }
    if j0 < n16 {
      let bp = UnsafeRawPointer(panel + j0)
      var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
      var c4 = SIMD16<Float>(), c5 = SIMD16<Float>(), c6 = SIMD16<Float>(), c7 = SIMD16<Float>()
      var off = 0
      for p in 0..<k {
        let b0 = bp.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
        let q = p &* stepP
        multiplyAdd(&c0, SIMD16<Float>(repeating: a0[q]), b0)
        multiplyAdd(&c1, SIMD16<Float>(repeating: a1[q]), b0)
        multiplyAdd(&c2, SIMD16<Float>(repeating: a2[q]), b0)
        multiplyAdd(&c3, SIMD16<Float>(repeating: a3[q]), b0)
        multiplyAdd(&c4, SIMD16<Float>(repeating: a4[q]), b0)
        multiplyAdd(&c5, SIMD16<Float>(repeating: a5[q]), b0)
        multiplyAdd(&c6, SIMD16<Float>(repeating: a6[q]), b0)
        multiplyAdd(&c7, SIMD16<Float>(repeating: a7[q]), b0)
        off &+= rowBytes
      }
      let cols = n &- j0
      put(0, j0, cols, c0); put(1, j0, cols, c1); put(2, j0, cols, c2); put(3, j0, cols, c3)
      put(4, j0, cols, c4); put(5, j0, cols, c5); put(6, j0, cols, c6); put(7, j0, cols, c7)
    }
  }
  #endif

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
