/// Single-precision matrix multiply on row-major buffers: `C = A·B (+ C)`.
package enum GEMM {
  /// Multiplies `A [m×k]` by `B [k×n]` into `C [m×n]`, all contiguous row-major.
  ///
  /// Rows of `C` are split across cores; each worker runs a 4×16 register-blocked
  /// micro-kernel with the accumulators held in SIMD registers.
  package static func multiply(
    _ A: UnsafePointer<Float>, _ B: UnsafePointer<Float>, _ C: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int, accumulate: Bool = false
  ) {
    if m == 0 || n == 0 { return }
    if !accumulate { C.update(repeating: 0, count: m &* n) }
    if k == 0 { return }
    let a = SendableConstPointer(A), b = SendableConstPointer(B), c = SendablePointer(C)
    let rowBlocks = (m + 3) / 4
    Parallel.forRanges(rowBlocks, grain: Swift.max(1, 32_768 / Swift.max(1, n * k / 64))) { blocks in
      let i0 = blocks.lowerBound * 4, i1 = Swift.min(m, blocks.upperBound * 4)
      kernel(a.base, b.base, c.base, rows: i0..<i1, n: n, k: k)
    }
  }

  @inline(__always)
  private static func kernel(
    _ A: UnsafePointer<Float>, _ B: UnsafePointer<Float>, _ C: UnsafeMutablePointer<Float>,
    rows: Range<Int>, n: Int, k: Int
  ) {
    let rb = UnsafeRawPointer(B)
    let rc = UnsafeMutableRawPointer(C)
    var i = rows.lowerBound
    while i &+ 4 <= rows.upperBound {
      let a0 = A + i &* k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k
      var j = 0
      while j &+ 16 <= n {
        let o0 = (i &* n &+ j) &* 4, o1 = o0 &+ n &* 4, o2 = o1 &+ n &* 4, o3 = o2 &+ n &* 4
        var c0 = rc.loadUnaligned(fromByteOffset: o0, as: SIMD16<Float>.self)
        var c1 = rc.loadUnaligned(fromByteOffset: o1, as: SIMD16<Float>.self)
        var c2 = rc.loadUnaligned(fromByteOffset: o2, as: SIMD16<Float>.self)
        var c3 = rc.loadUnaligned(fromByteOffset: o3, as: SIMD16<Float>.self)
        var p = 0
        while p < k {
          let bv = rb.loadUnaligned(fromByteOffset: (p &* n &+ j) &* 4, as: SIMD16<Float>.self)
          c0 += SIMD16(repeating: a0[p]) * bv
          c1 += SIMD16(repeating: a1[p]) * bv
          c2 += SIMD16(repeating: a2[p]) * bv
          c3 += SIMD16(repeating: a3[p]) * bv
          p &+= 1
        }
        rc.storeBytes(of: c0, toByteOffset: o0, as: SIMD16<Float>.self)
        rc.storeBytes(of: c1, toByteOffset: o1, as: SIMD16<Float>.self)
        rc.storeBytes(of: c2, toByteOffset: o2, as: SIMD16<Float>.self)
        rc.storeBytes(of: c3, toByteOffset: o3, as: SIMD16<Float>.self)
        j &+= 16
      }
      if j < n {
        for r in 0..<4 {
          let ar = A + (i &+ r) &* k
          for jj in j..<n {
            var s = C[(i &+ r) &* n &+ jj]
            for p in 0..<k { s += ar[p] * B[p &* n &+ jj] }
            C[(i &+ r) &* n &+ jj] = s
          }
        }
      }
      i &+= 4
    }
    while i < rows.upperBound {
      let ar = A + i &* k
      let cr = C + i &* n
      for p in 0..<k { Kernels.axpy(ar[p], B + p &* n, cr, n) }
      i &+= 1
    }
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
