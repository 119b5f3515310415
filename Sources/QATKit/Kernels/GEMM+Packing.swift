/// Packing of `op(A)` and `op(B)` blocks into the panel layouts the micro-kernel streams.
///
/// - `A` block `[mc × kc]` → panels of ``GEMM/mr`` rows: `panel[p·mr + r] = op(A)[i0+r, p0+p]`.
/// - `B` block `[kc × nc]` → panels of ``GEMM/nr`` columns: `panel[p·nr + c] = op(B)[p0+p, j0+c]`.
///
/// Rows and columns past the matrix edge are zero-filled, so the micro-kernel always runs a
/// full tile and only the store is clipped.
extension GEMM {
  /// Packs `op(A)[i0 ..< i0+mc, p0 ..< p0+kc]` into `dst` (`⌈mc/mr⌉·mr·kc` floats).
  ///
  /// `A` is `[m, k]`, or `[k, m]` when `transposed`.
  static func packPanelsA(
    _ A: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
    m: Int, k: Int, i0: Int, mc: Int, p0: Int, kc: Int, transposed: Bool
  ) {
    var ir = 0
    while ir < mc {
      let rows = Swift.min(mr, mc &- ir)
      let panel = dst + ir &* kc
      let i = i0 &+ ir
      if transposed {
        // op(A)[i, p] = A[p, i]: each p contributes `rows` contiguous values.
        var src = A + (p0 &* m &+ i)
        if rows == mr {
          for p in 0..<kc {
            let d = panel + p &* mr
            d[0] = src[0]; d[1] = src[1]; d[2] = src[2]; d[3] = src[3]; d[4] = src[4]; d[5] = src[5]
            #if QATKIT_AVX512
            d[6] = src[6]; d[7] = src[7]
            #endif
            src += m
          }
        } else {
          for p in 0..<kc {
            let d = panel + p &* mr
            for r in 0..<rows { d[r] = src[r] }
            for r in rows..<mr { d[r] = 0 }
            src += m
          }
        }
      } else {
        // op(A)[i, p] = A[i, p]: read each row contiguously, write with stride mr.
        if rows == mr {
          let s0 = A + (i &* k &+ p0), s1 = s0 + k, s2 = s1 + k, s3 = s2 + k, s4 = s3 + k, s5 = s4 + k
          #if QATKIT_AVX512
          let s6 = s5 + k, s7 = s6 + k
          #endif
          for p in 0..<kc {
            let d = panel + p &* mr
            d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p]; d[3] = s3[p]; d[4] = s4[p]; d[5] = s5[p]
            #if QATKIT_AVX512
            d[6] = s6[p]; d[7] = s7[p]
            #endif
          }
        } else {
          for r in 0..<mr {
            if r < rows {
              let s = A + ((i &+ r) &* k &+ p0)
              for p in 0..<kc { panel[p &* mr &+ r] = s[p] }
            } else {
              for p in 0..<kc { panel[p &* mr &+ r] = 0 }
            }
          }
        }
      }
      ir &+= mr
    }
  }

  /// Packs `op(B)[p0 ..< p0+kc, j0 ..< j0+nc]` into `dst` (`kc·⌈nc/nr⌉·nr` floats, 64-byte
  /// aligned so the micro-kernel can use aligned loads).
  ///
  /// `B` is `[k, n]`, or `[n, k]` when `transposed`.
  static func packPanelsB(
    _ B: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
    k: Int, n: Int, p0: Int, kc: Int, j0: Int, nc: Int, transposed: Bool
  ) {
    var jr = 0
    while jr < nc {
      let cols = Swift.min(nr, nc &- jr)
      let panel = dst + jr &* kc
      let j = j0 &+ jr
      if transposed {
        // op(B)[p, j] = B[j, p]: read each of the panel's columns contiguously along p. Full
        // panels go 16 columns × 16 values of p at a time through a register transpose; the
        // rest (edge panels, the last kc % 16 values) element by element.
        var pDone = 0
        if cols == nr {
          while pDone &+ 16 <= kc {
            var cg = 0
            while cg < nr {
              transpose16(B + ((j &+ cg) &* k &+ p0 &+ pDone), stride: k, into: panel + (pDone &* nr &+ cg), stride: nr)
              cg &+= 16
            }
            pDone &+= 16
          }
        }
        for c in 0..<nr {
          if c < cols {
            let s = B + ((j &+ c) &* k &+ p0)
            for p in pDone..<kc { panel[p &* nr &+ c] = s[p] }
          } else {
            for p in pDone..<kc { panel[p &* nr &+ c] = 0 }
          }
        }
      } else {
        let raw = UnsafeMutableRawPointer(panel)
        if cols == nr {
          var src = UnsafeRawPointer(B + (p0 &* n &+ j))
          let step = n &* 4
          let rowBytes = nr &* 4
          for p in 0..<kc {
            var o = 0
            while o < rowBytes {  // nr / 16 vectors per row of the panel
              let v = src.loadUnaligned(fromByteOffset: o, as: SIMD16<Float>.self)
              raw.storeBytes(of: v, toByteOffset: p &* rowBytes &+ o, as: SIMD16<Float>.self)
              o &+= 64
            }
            src += step
          }
        } else {
          var src = B + (p0 &* n &+ j)
          for p in 0..<kc {
            let d = panel + p &* nr
            for c in 0..<cols { d[c] = src[c] }
            for c in cols..<nr { d[c] = 0 }
            src += n
          }
        }
      }
      jr &+= nr
    }
  }
}

/// Writes the transpose of the 16×16 tile at `src` (rows `srcStride` floats apart) to `dst`
/// (rows `dstStride` floats apart): `dst[q·dstStride + c] = src[c·srcStride + q]`.
@inline(__always)
private func transpose16(
  _ src: UnsafePointer<Float>, stride srcStride: Int, into dst: UnsafeMutablePointer<Float>, stride dstStride: Int
) {
  transposeTile16(
    { i in UnsafeRawPointer(src + i &* srcStride).loadUnaligned(as: SIMD16<Float>.self) },
    { v, q in UnsafeMutableRawPointer(dst + q &* dstStride).storeBytes(of: v, as: SIMD16<Float>.self) })
}

/// A 64-byte aligned scratch buffer for packed panels.
struct PackBuffer: @unchecked Sendable {
  let base: UnsafeMutableRawPointer
  let bytes: Int
}

/// Reuses packing buffers across GEMM calls.
///
/// A training step runs many small GEMMs; allocating their panels each time (hundreds of KiB)
/// goes through `mmap` and costs a page fault per 4 KiB on first touch, which showed up as
/// ~15% of an MLP step. The pool keeps at most ``capacity`` buffers (the largest), so it
/// holds at most a few MiB (`kc × nc` floats = 2 MiB for the biggest B panel).
enum PackPool {
  /// Buffers kept for reuse.
  static let capacity = 6
  // Not `Synchronization.Mutex`: see ``Locked``.
  private static let free = Locked<[PackBuffer]>([])

  /// A buffer of at least `bytes` bytes (at least 64), from the pool when one fits.
  static func take(bytes: Int) -> PackBuffer {
    let want = Swift.max(64, bytes)
    let reused = free.withLock { list -> PackBuffer? in
      var best: Int?
      for (i, b) in list.enumerated() where b.bytes >= want && (best == nil || b.bytes < list[best!].bytes) {
        best = i
      }
      return best.map { list.remove(at: $0) }
    }
    if let reused { return reused }
    return PackBuffer(base: .allocate(byteCount: want, alignment: 64), bytes: want)
  }

  /// Returns a buffer; the smallest is freed when the pool is full.
  static func give(_ buffer: PackBuffer) {
    let evicted = free.withLock { list -> PackBuffer? in
      list.append(buffer)
      guard list.count > capacity else { return nil }
      let smallest = list.indices.min { list[$0].bytes < list[$1].bytes }!
      return list.remove(at: smallest)
    }
    evicted?.base.deallocate()
  }
}
