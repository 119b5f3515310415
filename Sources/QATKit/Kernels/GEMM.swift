/// Single-precision matrix multiply on row-major buffers: `C = op(A)·op(B) (+ C)`.
///
/// The fast path is a packed, cache-blocked SGEMM in the style of BLIS / GotoBLAS:
///
/// - `op(B)` is packed in blocks of `kc × nc` into column panels of ``nr`` (16) floats per
///   row of the panel, so the micro-kernel streams it with aligned loads;
/// - `op(A)` is packed in blocks of `mc × kc` into row panels of ``mr`` (6) floats per column;
/// - a 6×16 register-blocked micro-kernel keeps 12 `SIMD8<Float>` accumulators (12 of the 16
///   AVX2 registers) and adds `a·b` for every `p` of the `kc` block.
///
/// Transposed operands (`Aᵀ·B`, `A·Bᵀ`, `Aᵀ·Bᵀ`) are handled by packing from the transposed
/// layout, never by materializing a transpose. Work is split across cores over the rows or
/// the columns of `C` (whichever has more micro-tiles), one contiguous part per thread, and each
/// thread packs its own panels (see `multiply` for why they are not shared).
///
/// FMA: the micro-kernel uses `SIMD.addProduct`, which the x86-64-v3 release build lowers to
/// `vfmadd231ps` (checked with objdump: 12 per inner iteration, no `fmaf` calls). On a portable
/// (baseline x86-64) build it becomes a correct but slow `fmaf` call per lane; defining
/// `QATKIT_NO_FMA` (`-Xswiftc -DQATKIT_NO_FMA`) switches to a separate multiply and add there.
/// See ``multiplyAdd(_:_:_:)``.
///
/// AVX-512: release builds on an AVX-512 machine define `QATKIT_AVX512` (see Package.swift) and
/// use an 8×32 micro-kernel instead: 16 `SIMD16<Float>` accumulators in zmm registers (16 of the
/// 32), two 16-float `B` loads and eight broadcasts per `p`. The summation order per element is
/// the same (`p` ascending within a `kc` block, blocks in order), but the build's FMA/no-FMA
/// choice and the micro-kernel width are build settings, so results are tested against
/// ``reference(_:_:m:n:k:transposeA:transposeB:accumulateInto:)`` with a tolerance, not bitwise.
package enum GEMM {
  #if QATKIT_AVX512
  /// Rows of the micro-tile.
  package static let mr = 8
  /// Columns of the micro-tile (two `SIMD16<Float>`).
  package static let nr = 32
  #else
  /// Rows of the micro-tile.
  package static let mr = 6
  /// Columns of the micro-tile (two `SIMD8<Float>`).
  package static let nr = 16
  #endif
  /// Depth of a packed block (panel rows kept in L1 for one micro-kernel call).
  package static let kc = 256
  /// Rows of a packed `A` block (kept in L2).
  package static let mc = 96
  /// Columns of a packed `B` block.
  package static let nc = 2048

  /// `C[m×n] = op(A)[m×k] · op(B)[k×n]` (or `+=` with `accumulate`), all row-major and
  /// contiguous.
  ///
  /// - Parameters:
  ///   - A: `[m, k]` row-major, or `[k, m]` when `transposeA` (then `op(A) = Aᵀ`).
  ///   - B: `[k, n]` row-major, or `[n, k]` when `transposeB` (then `op(B) = Bᵀ`).
  ///   - C: `[m, n]` row-major output.
  ///   - accumulate: Adds to `C` instead of overwriting it.
  package static func multiply(
    _ A: UnsafePointer<Float>, _ B: UnsafePointer<Float>, _ C: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false, accumulate: Bool = false
  ) {
    if m == 0 || n == 0 { return }
    Allocation.prepare()
    if k == 0 {
      if !accumulate { C.update(repeating: 0, count: m &* n) }
      return
    }
    let a = SendableConstPointer(A), b = SendableConstPointer(B), c = SendablePointer(C)
    let tilesM = (m &+ mr &- 1) / mr, tilesN = (n &+ nr &- 1) / nr
    let work = m &* n &* k
    // Below ~0.5 MFLOP a second thread costs more than it saves.
    let threads = work < 1 << 18 ? 1 : Swift.min(Parallel.cores, Swift.max(tilesM, tilesN))
    if threads <= 1 {
      block(a.base, b.base, c.base, rows: 0..<m, cols: 0..<n, m: m, n: n, k: k,
            transposeA: transposeA, transposeB: transposeB, accumulate: accumulate)
      return
    }
    let splitRows = tilesM > tilesN
    // Every thread packs the panels it needs, even when that packs all of `op(B)` once per
    // thread. Sharing one packed `B` (packed by all threads together, behind a barrier per `kc`
    // block) was measured slower at every shape tried once the pool's workers start on time
    // (see `WorkerPool`): on the 2-core reference machine (x86-64-v4 build), 256³ ran at
    // 250-265 GFLOP/s shared vs 315-360 private, 512³ at 295 vs 331, 256×128×512 at 221-236 vs
    // 281-306, 64×32×2048 at 69 vs 227 (x86-64-v3 build, 256³: 138 vs 157). Reading panels
    // another core has just written moves every cache line between the cores' private L2s, and
    // that costs more than packing them again.
    let tiles = splitRows ? tilesM : tilesN
    Parallel.forRanges(tiles, grain: 1) { r in
      if splitRows {
        let rows = (r.lowerBound &* mr)..<Swift.min(m, r.upperBound &* mr)
        block(a.base, b.base, c.base, rows: rows, cols: 0..<n, m: m, n: n, k: k,
              transposeA: transposeA, transposeB: transposeB, accumulate: accumulate)
      } else {
        let cols = (r.lowerBound &* nr)..<Swift.min(n, r.upperBound &* nr)
        block(a.base, b.base, c.base, rows: 0..<m, cols: cols, m: m, n: n, k: k,
              transposeA: transposeA, transposeB: transposeB, accumulate: accumulate)
      }
    }
  }

  /// Computes the `rows × cols` block of `C` on the calling thread.
  private static func block(
    _ A: UnsafePointer<Float>, _ B: UnsafePointer<Float>, _ C: UnsafeMutablePointer<Float>,
    rows: Range<Int>, cols: Range<Int>, m: Int, n: Int, k: Int,
    transposeA: Bool, transposeB: Bool, accumulate: Bool
  ) {
    let kcMax = Swift.min(kc, k)
    let mcMax = Swift.min(mc, (rows.count &+ mr &- 1) / mr &* mr)
    let ncMax = Swift.min(nc, (cols.count &+ nr &- 1) / nr &* nr)
    let bufA = PackPool.take(bytes: mcMax &* kcMax &* 4)
    let bufB = PackPool.take(bytes: kcMax &* ncMax &* 4)
    defer {
      PackPool.give(bufA)
      PackPool.give(bufB)
    }
    let packA = bufA.base.bindMemory(to: Float.self, capacity: mcMax &* kcMax)
    let packB = bufB.base.bindMemory(to: Float.self, capacity: kcMax &* ncMax)
    var jc = cols.lowerBound
    while jc < cols.upperBound {
      let ncur = Swift.min(nc, cols.upperBound &- jc)
      var pc = 0
      while pc < k {
        let kcur = Swift.min(kc, k &- pc)
        let overwrite = pc == 0 && !accumulate
        packPanelsB(B, packB, k: k, n: n, p0: pc, kc: kcur, j0: jc, nc: ncur, transposed: transposeB)
        var ic = rows.lowerBound
        while ic < rows.upperBound {
          let mcur = Swift.min(mc, rows.upperBound &- ic)
          packPanelsA(A, packA, m: m, k: k, i0: ic, mc: mcur, p0: pc, kc: kcur, transposed: transposeA)
          var jr = 0
          while jr < ncur {
            let ncols = Swift.min(nr, ncur &- jr)
            let bPanel = packB + jr &* kcur
            var ir = 0
            while ir < mcur {
              let nrows = Swift.min(mr, mcur &- ir)
              let cTile = C + ((ic &+ ir) &* n &+ (jc &+ jr))
              #if QATKIT_AVX512
              kernel8x32(kcur, packA + ir &* kcur, bPanel, cTile, ldc: n, rows: nrows, cols: ncols,
                         overwrite: overwrite)
              #else
              kernel6x16(kcur, packA + ir &* kcur, bPanel, cTile, ldc: n, rows: nrows, cols: ncols,
                         overwrite: overwrite)
              #endif
              ir &+= mr
            }
            jr &+= nr
          }
          ic &+= mcur
        }
        pc &+= kcur
      }
      jc &+= ncur
    }
  }

  /// The build's micro-kernel on one packed `A` panel (``mr`` rows) and one packed `B` panel
  /// (``nr`` columns) of depth `kc`: `C[tile] (=|+=) Aᵀ·B`, storing the `rows × cols` valid part.
  /// Entry point for drivers that pack their own panels (the implicit-GEMM convolutions).
  @inline(__always)
  static func microKernel(
    _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    ldc: Int, rows: Int, cols: Int, overwrite: Bool
  ) {
    #if QATKIT_AVX512
    kernel8x32(kc, a, b, c, ldc: ldc, rows: rows, cols: cols, overwrite: overwrite)
    #else
    kernel6x16(kc, a, b, c, ldc: ldc, rows: rows, cols: cols, overwrite: overwrite)
    #endif
  }

  /// `c += a * b` lane-wise, fused when the build targets FMA (x86-64-v3).
  @inline(__always)
  package static func multiplyAdd(_ c: inout SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
    #if QATKIT_NO_FMA
    c += a * b
    #else
    c.addProduct(a, b)
    #endif
  }

  /// `c += a * b` on 16 lanes, fused when the build targets FMA.
  @inline(__always)
  package static func multiplyAdd(_ c: inout SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>) {
    #if QATKIT_NO_FMA
    c += a * b
    #else
    c.addProduct(a, b)
    #endif
  }

  #if QATKIT_AVX512
  /// The 8×32 AVX-512 micro-kernel: `C[tile] (=|+=) Apanel[kc×8]ᵀ · Bpanel[kc×32]`, storing only
  /// the `rows × cols` valid part of the tile.
  @inline(__always)
  private static func kernel8x32(
    _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    ldc: Int, rows: Int, cols: Int, overwrite: Bool
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
      multiplyAdd(&c00, av, b0); multiplyAdd(&c01, av, b1)
      av = SIMD16<Float>(repeating: pa[1])
      multiplyAdd(&c10, av, b0); multiplyAdd(&c11, av, b1)
      av = SIMD16<Float>(repeating: pa[2])
      multiplyAdd(&c20, av, b0); multiplyAdd(&c21, av, b1)
      av = SIMD16<Float>(repeating: pa[3])
      multiplyAdd(&c30, av, b0); multiplyAdd(&c31, av, b1)
      av = SIMD16<Float>(repeating: pa[4])
      multiplyAdd(&c40, av, b0); multiplyAdd(&c41, av, b1)
      av = SIMD16<Float>(repeating: pa[5])
      multiplyAdd(&c50, av, b0); multiplyAdd(&c51, av, b1)
      av = SIMD16<Float>(repeating: pa[6])
      multiplyAdd(&c60, av, b0); multiplyAdd(&c61, av, b1)
      av = SIMD16<Float>(repeating: pa[7])
      multiplyAdd(&c70, av, b0); multiplyAdd(&c71, av, b1)
      pa += 8
      off &+= 128
    }
    if rows == mr && cols == nr {
      let rc = UnsafeMutableRawPointer(c)
      let ld = ldc &* 4
      @inline(__always) func put(_ r: Int, _ v0: SIMD16<Float>, _ v1: SIMD16<Float>) {
        let o = r &* ld
        if overwrite {
          rc.storeBytes(of: v0, toByteOffset: o, as: SIMD16<Float>.self)
          rc.storeBytes(of: v1, toByteOffset: o &+ 64, as: SIMD16<Float>.self)
        } else {
          let o0 = rc.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
          let o1 = rc.loadUnaligned(fromByteOffset: o &+ 64, as: SIMD16<Float>.self)
          rc.storeBytes(of: o0 + v0, toByteOffset: o, as: SIMD16<Float>.self)
          rc.storeBytes(of: o1 + v1, toByteOffset: o &+ 64, as: SIMD16<Float>.self)
        }
      }
      put(0, c00, c01); put(1, c10, c11); put(2, c20, c21); put(3, c30, c31)
      put(4, c40, c41); put(5, c50, c51); put(6, c60, c61); put(7, c70, c71)
      return
    }
    // Edge tile: spill the accumulators and copy the valid part.
    withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 16) { t in
      t[0] = c00; t[1] = c01; t[2] = c10; t[3] = c11; t[4] = c20; t[5] = c21; t[6] = c30; t[7] = c31
      t[8] = c40; t[9] = c41; t[10] = c50; t[11] = c51; t[12] = c60; t[13] = c61; t[14] = c70; t[15] = c71
      let tile = UnsafeRawPointer(t.baseAddress!).assumingMemoryBound(to: Float.self)
      for r in 0..<rows {
        let src = tile + r &* 32
        let dst = c + r &* ldc
        if overwrite {
          for j in 0..<cols { dst[j] = src[j] }
        } else {
          for j in 0..<cols { dst[j] += src[j] }
        }
      }
    }
  }
  #endif

  /// The 6×16 micro-kernel: `C[tile] (=|+=) Apanel[kc×6]ᵀ · Bpanel[kc×16]`, storing only the
  /// `rows × cols` valid part of the tile.
  @inline(__always)
  private static func kernel6x16(
    _ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
    ldc: Int, rows: Int, cols: Int, overwrite: Bool
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
      multiplyAdd(&c00, av, b0); multiplyAdd(&c01, av, b1)
      av = SIMD8<Float>(repeating: pa[1])
      multiplyAdd(&c10, av, b0); multiplyAdd(&c11, av, b1)
      av = SIMD8<Float>(repeating: pa[2])
      multiplyAdd(&c20, av, b0); multiplyAdd(&c21, av, b1)
      av = SIMD8<Float>(repeating: pa[3])
      multiplyAdd(&c30, av, b0); multiplyAdd(&c31, av, b1)
      av = SIMD8<Float>(repeating: pa[4])
      multiplyAdd(&c40, av, b0); multiplyAdd(&c41, av, b1)
      av = SIMD8<Float>(repeating: pa[5])
      multiplyAdd(&c50, av, b0); multiplyAdd(&c51, av, b1)
      pa += 6
      off &+= 64
    }
    if rows == mr && cols == nr {
      let rc = UnsafeMutableRawPointer(c)
      let ld = ldc &* 4
      @inline(__always) func put(_ r: Int, _ v0: SIMD8<Float>, _ v1: SIMD8<Float>) {
        let o = r &* ld
        if overwrite {
          rc.storeBytes(of: v0, toByteOffset: o, as: SIMD8<Float>.self)
          rc.storeBytes(of: v1, toByteOffset: o &+ 32, as: SIMD8<Float>.self)
        } else {
          let o0 = rc.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
          let o1 = rc.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD8<Float>.self)
          rc.storeBytes(of: o0 + v0, toByteOffset: o, as: SIMD8<Float>.self)
          rc.storeBytes(of: o1 + v1, toByteOffset: o &+ 32, as: SIMD8<Float>.self)
        }
      }
      put(0, c00, c01); put(1, c10, c11); put(2, c20, c21)
      put(3, c30, c31); put(4, c40, c41); put(5, c50, c51)
      return
    }
    // Edge tile: spill the accumulators and copy the valid part.
    withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 12) { t in
      t[0] = c00; t[1] = c01; t[2] = c10; t[3] = c11; t[4] = c20; t[5] = c21
      t[6] = c30; t[7] = c31; t[8] = c40; t[9] = c41; t[10] = c50; t[11] = c51
      let tile = UnsafeRawPointer(t.baseAddress!).assumingMemoryBound(to: Float.self)
      for r in 0..<rows {
        let src = tile + r &* 16
        let dst = c + r &* ldc
        if overwrite {
          for j in 0..<cols { dst[j] = src[j] }
        } else {
          for j in 0..<cols { dst[j] += src[j] }
        }
      }
    }
  }

  /// Plain triple loop `C = op(A)·op(B) (+ C)` with `Double` accumulation, for tests.
  package static func reference(
    _ A: [Float], _ B: [Float], m: Int, n: Int, k: Int,
    transposeA: Bool = false, transposeB: Bool = false, accumulateInto C: [Float]? = nil
  ) -> [Float] {
    var out = C ?? [Float](repeating: 0, count: m * n)
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k {
          let a = transposeA ? A[p * m + i] : A[i * k + p]
          let b = transposeB ? B[j * k + p] : B[p * n + j]
          s += Double(a) * Double(b)
        }
        out[i * n + j] += Float(s)
      }
    }
    return out
  }

  /// Writes the transpose of `src [rows×cols]` into `dst [cols×rows]`, in cache-sized tiles.
  package static func transpose(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    let tile = 32
    var i0 = 0
    while i0 < rows {
      let i1 = Swift.min(rows, i0 &+ tile)
      var j0 = 0
      while j0 < cols {
        let j1 = Swift.min(cols, j0 &+ tile)
        for i in i0..<i1 {
          for j in j0..<j1 { dst[j &* rows &+ i] = src[i &* cols &+ j] }
        }
        j0 = j1
      }
      i0 = i1
    }
  }
}
