/// The convolution's micro-kernels: ``GEMM``'s 8×32 (AVX-512) and 6×16 register tiles with the
/// bias added in registers before the store, on the last `k` block.
///
/// A separate pass over each stored tile (load, add, store) cost a quarter of conv1's forward:
/// its 8 rows lie 4 KiB apart (1024 output positions) in the same L1 sets, so the reloads missed.
/// The summation order of every output is the GEMM's (`p` ascending within a block, blocks in
/// order), then `+ bias`.
extension ConvGEMM {
  #if QATKIT_AVX512
  /// `C[tile] (=|+=) Apanel[kc×8]ᵀ · Bpanel[kc×32] (+ bias[row])`, storing the valid
  /// `rows × cols` part.
  @inline(__always)
  static func kernel(
    _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    ldc: Int, rows: Int, cols: Int, overwrite: Bool, bias: UnsafePointer<Float>?
  ) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
    var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
    var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>()
    var c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
    let rb = UnsafeRawPointer(b)
    var pa = a
    var off = 0
    let end = kc &* 128
    while off < end {
      let b0 = rb.load(fromByteOffset: off, as: SIMD16<Float>.self)
      let b1 = rb.load(fromByteOffset: off &+ 64, as: SIMD16<Float>.self)
      var av = SIMD16<Float>(repeating: pa[0])
      GEMM.multiplyAdd(&c00, av, b0); GEMM.multiplyAdd(&c01, av, b1)
      av = SIMD16<Float>(repeating: pa[1])
      GEMM.multiplyAdd(&c10, av, b0); GEMM.multiplyAdd(&c11, av, b1)
      av = SIMD16<Float>(repeating: pa[2])
      GEMM.multiplyAdd(&c20, av, b0); GEMM.multiplyAdd(&c21, av, b1)
      av = SIMD16<Float>(repeating: pa[3])
      GEMM.multiplyAdd(&c30, av, b0); GEMM.multiplyAdd(&c31, av, b1)
      av = SIMD16<Float>(repeating: pa[4])
      GEMM.multiplyAdd(&c40, av, b0); GEMM.multiplyAdd(&c41, av, b1)
      av = SIMD16<Float>(repeating: pa[5])
      GEMM.multiplyAdd(&c50, av, b0); GEMM.multiplyAdd(&c51, av, b1)
      av = SIMD16<Float>(repeating: pa[6])
      GEMM.multiplyAdd(&c60, av, b0); GEMM.multiplyAdd(&c61, av, b1)
      av = SIMD16<Float>(repeating: pa[7])
      GEMM.multiplyAdd(&c70, av, b0); GEMM.multiplyAdd(&c71, av, b1)
      pa += 8
      off &+= 128
    }
    if rows == GEMM.mr && cols == GEMM.nr {
      let rc = UnsafeMutableRawPointer(c)
      let ld = ldc &* 4
      @inline(__always) func put(_ r: Int, _ v0: SIMD16<Float>, _ v1: SIMD16<Float>) {
        let o = r &* ld
        var w0 = v0, w1 = v1
        if !overwrite {
          w0 = rc.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self) + w0
          w1 = rc.loadUnaligned(fromByteOffset: o &+ 64, as: SIMD16<Float>.self) + w1
        }
        if let bias {
          let bv = SIMD16<Float>(repeating: bias[r])
          w0 += bv
          w1 += bv
        }
        rc.storeBytes(of: w0, toByteOffset: o, as: SIMD16<Float>.self)
        rc.storeBytes(of: w1, toByteOffset: o &+ 64, as: SIMD16<Float>.self)
      }
      put(0, c00, c01); put(1, c10, c11); put(2, c20, c21); put(3, c30, c31)
      put(4, c40, c41); put(5, c50, c51); put(6, c60, c61); put(7, c70, c71)
      return
    }
    withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 16) { t in
      t[0] = c00; t[1] = c01; t[2] = c10; t[3] = c11; t[4] = c20; t[5] = c21; t[6] = c30; t[7] = c31
      t[8] = c40; t[9] = c41; t[10] = c50; t[11] = c51; t[12] = c60; t[13] = c61; t[14] = c70; t[15] = c71
      edge(UnsafeRawPointer(t.baseAddress!).assumingMemoryBound(to: Float.self), c, ldc: ldc, rows: rows, cols: cols,
           overwrite: overwrite, bias: bias)
    }
  }

  /// `C[8×32] += A · Bpanel[kc×32]` with `A` read in place: row `r` of the tile is
  /// `a[r·lda ..< r·lda + kc]` (`rows` valid rows; the others repeat the last one and are not
  /// stored), `C` rows `GEMM.nr` floats apart, `B` 64-byte aligned (a packed panel). Used for the weight gradient of convolutions with
  /// fewer patch entries than one panel (conv1: 27), where packing `dY` cost as much as the
  /// products.
  @inline(__always)
  static func kernelRowsA(
    _ kc: Int, _ a: UnsafePointer<Float>, lda: Int, rows: Int, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>
  ) {
    @inline(__always) func row(_ r: Int) -> UnsafePointer<Float> { a + Swift.min(r, rows &- 1) &* lda }
    let a0 = row(0), a1 = row(1), a2 = row(2), a3 = row(3), a4 = row(4), a5 = row(5), a6 = row(6), a7 = row(7)
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
    var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
    var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>()
    var c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
    let rb = UnsafeRawPointer(b)
    for p in 0..<kc {
      let off = p &* 128
      let b0 = rb.load(fromByteOffset: off, as: SIMD16<Float>.self)
      let b1 = rb.load(fromByteOffset: off &+ 64, as: SIMD16<Float>.self)
      var av = SIMD16<Float>(repeating: a0[p])
      GEMM.multiplyAdd(&c00, av, b0); GEMM.multiplyAdd(&c01, av, b1)
      av = SIMD16<Float>(repeating: a1[p])
      GEMM.multiplyAdd(&c10, av, b0); GEMM.multiplyAdd(&c11, av, b1)
      av = SIMD16<Float>(repeating: a2[p])
      GEMM.multiplyAdd(&c20, av, b0); GEMM.multiplyAdd(&c21, av, b1)
      av = SIMD16<Float>(repeating: a3[p])
      GEMM.multiplyAdd(&c30, av, b0); GEMM.multiplyAdd(&c31, av, b1)
      av = SIMD16<Float>(repeating: a4[p])
      GEMM.multiplyAdd(&c40, av, b0); GEMM.multiplyAdd(&c41, av, b1)
      av = SIMD16<Float>(repeating: a5[p])
      GEMM.multiplyAdd(&c50, av, b0); GEMM.multiplyAdd(&c51, av, b1)
      av = SIMD16<Float>(repeating: a6[p])
      GEMM.multiplyAdd(&c60, av, b0); GEMM.multiplyAdd(&c61, av, b1)
      av = SIMD16<Float>(repeating: a7[p])
      GEMM.multiplyAdd(&c70, av, b0); GEMM.multiplyAdd(&c71, av, b1)
    }
    let rc = UnsafeMutableRawPointer(c)
    @inline(__always) func put(_ r: Int, _ v0: SIMD16<Float>, _ v1: SIMD16<Float>) {
      guard r < rows else { return }
      let o = r &* 128
      let w0 = rc.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self) + v0
      let w1 = rc.loadUnaligned(fromByteOffset: o &+ 64, as: SIMD16<Float>.self) + v1
      rc.storeBytes(of: w0, toByteOffset: o, as: SIMD16<Float>.self)
      rc.storeBytes(of: w1, toByteOffset: o &+ 64, as: SIMD16<Float>.self)
    }
    put(0, c00, c01); put(1, c10, c11); put(2, c20, c21); put(3, c30, c31)
    put(4, c40, c41); put(5, c50, c51); put(6, c60, c61); put(7, c70, c71)
  }
  #else
  /// `C[tile] (=|+=) Apanel[kc×6]ᵀ · Bpanel[kc×16] (+ bias[row])`, storing the valid
  /// `rows × cols` part.
  @inline(__always)
  static func kernel(
    _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    ldc: Int, rows: Int, cols: Int, overwrite: Bool, bias: UnsafePointer<Float>?
  ) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
    var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    let rb = UnsafeRawPointer(b)
    var pa = a
    var off = 0
    let end = kc &* 64
    while off < end {
      let b0 = rb.load(fromByteOffset: off, as: SIMD8<Float>.self)
      let b1 = rb.load(fromByteOffset: off &+ 32, as: SIMD8<Float>.self)
      var av = SIMD8<Float>(repeating: pa[0])
      GEMM.multiplyAdd(&c00, av, b0); GEMM.multiplyAdd(&c01, av, b1)
      av = SIMD8<Float>(repeating: pa[1])
      GEMM.multiplyAdd(&c10, av, b0); GEMM.multiplyAdd(&c11, av, b1)
      av = SIMD8<Float>(repeating: pa[2])
      GEMM.multiplyAdd(&c20, av, b0); GEMM.multiplyAdd(&c21, av, b1)
      av = SIMD8<Float>(repeating: pa[3])
      GEMM.multiplyAdd(&c30, av, b0); GEMM.multiplyAdd(&c31, av, b1)
      av = SIMD8<Float>(repeating: pa[4])
      GEMM.multiplyAdd(&c40, av, b0); GEMM.multiplyAdd(&c41, av, b1)
      av = SIMD8<Float>(repeating: pa[5])
      GEMM.multiplyAdd(&c50, av, b0); GEMM.multiplyAdd(&c51, av, b1)
      pa += 6
      off &+= 64
    }
    if rows == GEMM.mr && cols == GEMM.nr {
      let rc = UnsafeMutableRawPointer(c)
      let ld = ldc &* 4
      @inline(__always) func put(_ r: Int, _ v0: SIMD8<Float>, _ v1: SIMD8<Float>) {
        let o = r &* ld
        var w0 = v0, w1 = v1
        if !overwrite {
          w0 = rc.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + w0
          w1 = rc.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD8<Float>.self) + w1
        }
        if let bias {
          let bv = SIMD8<Float>(repeating: bias[r])
          w0 += bv
          w1 += bv
        }
        rc.storeBytes(of: w0, toByteOffset: o, as: SIMD8<Float>.self)
        rc.storeBytes(of: w1, toByteOffset: o &+ 32, as: SIMD8<Float>.self)
      }
      put(0, c00, c01); put(1, c10, c11); put(2, c20, c21)
      put(3, c30, c31); put(4, c40, c41); put(5, c50, c51)
      return
    }
    withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 12) { t in
      t[0] = c00; t[1] = c01; t[2] = c10; t[3] = c11; t[4] = c20; t[5] = c21
      t[6] = c30; t[7] = c31; t[8] = c40; t[9] = c41; t[10] = c50; t[11] = c51
      edge(UnsafeRawPointer(t.baseAddress!).assumingMemoryBound(to: Float.self), c, ldc: ldc, rows: rows, cols: cols,
           overwrite: overwrite, bias: bias)
    }
  }
  #endif

  /// Stores the valid part of a spilled tile (`GEMM.nr` floats per row).
  @inline(__always)
  private static func edge(
    _ tile: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int, overwrite: Bool,
    bias: UnsafePointer<Float>?
  ) {
    for r in 0..<rows {
      let src = tile + r &* GEMM.nr
      let dst = c + r &* ldc
      for j in 0..<cols {
        var v = overwrite ? src[j] : dst[j] + src[j]
        if let bias { v += bias[r] }
        dst[j] = v
      }
    }
  }
}
