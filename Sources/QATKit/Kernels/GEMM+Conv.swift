/// 2-D convolutions as packed GEMMs whose im2col matrix is never materialized.
///
/// For one image, the convolution is `Y[O, L] = W[O, C·kh·kw] · im2col(X)[C·kh·kw, L]` (`L` =
/// output positions), which writes NCHW output directly. The SGEMM's `B` packing reads the
/// im2col matrix straight from the (zero-padded) image: with stride 1 every packed row is a run of
/// contiguous pixels, copied 16 at a time. The weights are packed once per call and shared by all
/// images; images (or, for fewer images than cores, column blocks of one image) are split across
/// the worker pool. The micro-kernel is ``GEMM``'s.
///
/// - Forward: the above, bias added on the last `k` block of each tile.
/// - Input gradient: the convolution of the output gradient — dilated by the stride and padded by
///   `k − 1 − padding` — with the flipped kernel, transposed (`[C, O·kh·kw]`): the same driver.
/// - Weight gradient: `dW[O, C·kh·kw] = Σ_images dY[O, L] · im2col(X)ᵀ`, `k` = output positions;
///   the packing of `im2col(X)ᵀ` transposes 16×16 tiles of image rows in registers. Each thread
///   accumulates its contiguous share of (image, position) pairs into its own `dW`; the shares
///   are added in a fixed order, so results do not depend on scheduling.
///
/// `ConvReference` holds the plain implementation the tests compare against.
package enum ConvGEMM {
  /// Largest `k` block (patch entries or positions) per packed panel.
  static let kcMax = 256
  /// Output columns (positions, or patch entries for the weight gradient) per packed `B` block.
  static let blockColumns = 256

  // MARK: Drivers

  /// `Y[b] = W · im2col(X[b]) (+ bias)` for every image: `x [N, C, H, W]`, `weight [O, C, kh, kw]`,
  /// `y [N, O, Ho, Wo]` (every element written).
  package static func forward(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, geometry g: ConvGeometry
  ) {
    let pad = ImagePadding(
      channels: g.channels, srcH: g.height, srcW: g.width, top: g.padding, left: g.padding, dilation: 1,
      hp: g.height + 2 * g.padding, wp: g.width + 2 * g.padding)
    let plan = Im2colPlan(
      channels: g.channels, hp: pad.hp, wp: pad.wp, kh: g.kernelH, kw: g.kernelW, stride: g.stride,
      oh: g.outHeight, ow: g.outWidth)
    implicit(
      a: weight, m: g.outChannels, images: x, imageStride: g.channels * g.height * g.width, batch: g.batch,
      padding: pad, plan: plan, bias: bias, out: y)
  }

  /// `dX [N, C, H, W]` from `dY [N, O, Ho, Wo]` and `weight [O, C, kh, kw]` (every element written).
  package static func inputGradient(
    _ dy: UnsafePointer<Float>, weight: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
    geometry g: ConvGeometry
  ) {
    // dX[c, iy, ix] = Σ_{o, ky, kx} W[o, c, ky, kx] · dY[o, oy, ox] with oy·s + ky − p = iy. With
    // ky' = kh − 1 − ky: iy + ky' = (kh − 1 − p) + oy·s, a stride-1 convolution over dY placed at
    // rows (kh − 1 − p) + oy·s of a zero image of H + kh − 1 rows, with kernel Wf[c, (o, ky', kx')].
    let (o, c, kh, kw) = (g.outChannels, g.channels, g.kernelH, g.kernelW)
    let k = o * kh * kw
    let flipped = UnsafeMutablePointer<Float>.allocate(capacity: c * k)
    defer { flipped.deallocate() }
    for oc in 0..<o {
      for ci in 0..<c {
        let src = weight + (oc * c + ci) * kh * kw
        let dst = flipped + ci * k + oc * kh * kw
        for ky in 0..<kh {
          for kx in 0..<kw { dst[ky * kw + kx] = src[(kh - 1 - ky) * kw + (kw - 1 - kx)] }
        }
      }
    }
    let pad = ImagePadding(
      channels: o, srcH: g.outHeight, srcW: g.outWidth, top: kh - 1 - g.padding, left: kw - 1 - g.padding,
      dilation: g.stride, hp: g.height + kh - 1, wp: g.width + kw - 1)
    let plan = Im2colPlan(channels: o, hp: pad.hp, wp: pad.wp, kh: kh, kw: kw, stride: 1, oh: g.height, ow: g.width)
    implicit(
      a: flipped, m: c, images: dy, imageStride: o * g.positions, batch: g.batch, padding: pad, plan: plan,
      bias: nil, out: dx)
  }

  /// `dW [O, C, kh, kw] = Σ_b dY[b] · im2col(X[b])ᵀ` and, when `db` is given, the bias gradient
  /// `db[o] = Σ_{b, l} dY[b, o, l]` from the same pass over `dY` (every element written).
  package static func weightGradient(
    _ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
    bias db: UnsafeMutablePointer<Float>? = nil, geometry g: ConvGeometry
  ) {
    let m = g.outChannels, k = g.patch, l = g.positions
    let total = g.batch * l
    guard total > 0 else {
      dw.update(repeating: 0, count: m * k)
      db?.update(repeating: 0, count: m)
      return
    }
    let pad = ImagePadding(
      channels: g.channels, srcH: g.height, srcW: g.width, top: g.padding, left: g.padding, dilation: 1,
      hp: g.height + 2 * g.padding, wp: g.width + 2 * g.padding)
    let plan = Im2colPlan(
      channels: g.channels, hp: pad.hp, wp: pad.wp, kh: g.kernelH, kw: g.kernelW, stride: g.stride,
      oh: g.outHeight, ow: g.outWidth)
    // Contiguous shares of the (image, position) pairs, one accumulator (dW then db) each. Below
    // ~1 MFLOP per share a second thread does not pay.
    let flop = 2 * m * k * total
    let shares = Swift.max(1, Swift.min(Parallel.cores, flop >> 20, (total + 15) / 16))
    let per = ((total + shares - 1) / shares + 15) / 16 * 16
    let size = m * k + m
    let accumulators = UnsafeMutablePointer<Float>.allocate(capacity: shares * size)
    defer { accumulators.deallocate() }
    accumulators.update(repeating: 0, count: shares * size)
    let acc = SendablePointer(accumulators), dyp = SendableConstPointer(dy), xp = SendableConstPointer(x)
    let imageStride = g.channels * g.height * g.width
    let planBox = SendableBox(plan)
    let wantBias = db != nil
    Parallel.forRanges(shares, grain: 1) { r in
      for share in r {
        let lo = share * per, hi = Swift.min(total, lo + per)
        if lo < hi {
          let own = acc.base + share * size
          weightGradientShare(
            dyp.base, xp.base, imageStride: imageStride, m: m, positions: l, range: lo..<hi,
            padding: pad, plan: planBox.value, into: own, biasInto: wantBias ? own + m * k : nil)
        }
      }
    }
    dw.update(from: accumulators, count: m * k)
    for s in 1..<shares { Elementwise.vv(AddKernel.self, dw, accumulators + s * size, dw, m * k) }
    if let db {
      db.update(from: accumulators + m * k, count: m)
      for s in 1..<shares { Elementwise.vv(AddKernel.self, db, accumulators + (s * size + m * k), db, m) }
    }
  }

  /// `db[o] = Σ_{b, l} dY[b, o, l]`.
  package static func biasGradient(_ dy: UnsafePointer<Float>, _ db: UnsafeMutablePointer<Float>, geometry g: ConvGeometry) {
    let l = g.positions, o = g.outChannels
    for oc in 0..<o {
      var s: Float = 0
      for b in 0..<g.batch { s += Kernels.sum(dy + (b * o + oc) * l, l) }
      db[oc] = s
    }
  }

  /// `out[b][m, l] = Σ_r A[m, r] · im2col(P_b)[r, l] (+ bias[m])` for `b < batch`, where `P_b` is
  /// image `b` of `images` (`imageStride` floats apart) placed by `padding`; `out` is
  /// `[batch, m, plan.positions]`.
  static func implicit(
    a: UnsafePointer<Float>, m: Int, images: UnsafePointer<Float>, imageStride: Int, batch: Int,
    padding: ImagePadding, plan: Im2colPlan, bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>
  ) {
    let k = plan.rows, l = plan.positions
    guard batch > 0, m > 0, l > 0 else { return }
    guard k > 0 else {
      for b in 0..<batch {
        for r in 0..<m { (out + (b * m + r) * l).update(repeating: bias?[r] ?? 0, count: l) }
      }
      return
    }
    Allocation.prepare()
    // k blocks of equal size (≤ kcMax), the weights packed once for all of them.
    let blocks = (k + kcMax - 1) / kcMax
    let kb = (k + blocks - 1) / blocks
    let mPadded = (m + GEMM.mr - 1) / GEMM.mr * GEMM.mr
    let packedA = UnsafeMutablePointer<Float>.allocate(capacity: mPadded * k)
    defer { packedA.deallocate() }
    var p0 = 0
    while p0 < k {
      let kcur = Swift.min(kb, k - p0)
      GEMM.packPanelsA(a, packedA + mPadded * p0, m: m, k: k, i0: 0, mc: m, p0: p0, kc: kcur, transposed: false)
      p0 += kcur
    }
    // Tasks: whole images, or column blocks when there are fewer images than cores.
    let columnBlocks = (l + blockColumns - 1) / blockColumns
    let split = batch < Parallel.cores && columnBlocks > 1
    let perImage = split ? columnBlocks : 1
    let tasks = batch * perImage
    let flop = 2 * m * k * l * batch
    let pa = SendableConstPointer(UnsafePointer(packedA)), src = SendableConstPointer(images)
    let dst = SendablePointer(out), bp = bias.map { SendableConstPointer($0) }
    let planBox = SendableBox(plan)
    let body: @Sendable (Range<Int>) -> Void = { r in
      let plan = planBox.value
      let scratch = padding.isIdentity ? nil : PackPool.take(bytes: padding.count * 4)
      let bufB = PackPool.take(bytes: kb * (blockColumns + GEMM.nr) * 4)
      defer {
        if let scratch { PackPool.give(scratch) }
        PackPool.give(bufB)
      }
      let packB = bufB.base.bindMemory(to: Float.self, capacity: kb * (blockColumns + GEMM.nr))
      var filled = -1
      for task in r {
        let b = task / perImage
        let image = src.base + b * imageStride
        let p: UnsafePointer<Float>
        if let scratch {
          let s = scratch.base.bindMemory(to: Float.self, capacity: padding.count)
          if filled != b { padding.fill(image, into: s) }
          p = UnsafePointer(s)
        } else {
          p = image
        }
        filled = b
        let cols = split ? (task % perImage) * blockColumns..<Swift.min(l, (task % perImage + 1) * blockColumns) : 0..<l
        let outImage = dst.base + b * m * l
        var jc = cols.lowerBound
        while jc < cols.upperBound {
          let ncur = Swift.min(blockColumns, cols.upperBound - jc)
          var p0 = 0
          while p0 < k {
            let kcur = Swift.min(kb, k - p0)
            let last = p0 + kcur == k
            packPositionPanels(p, packB, plan: plan, r0: p0, kc: kcur, j0: jc, nc: ncur)
            var jr = 0
            while jr < ncur {
              let ncols = Swift.min(GEMM.nr, ncur - jr)
              let bPanel = packB + jr * kcur
              var ir = 0
              while ir < m {
                let nrows = Swift.min(GEMM.mr, m - ir)
                let tile = outImage + (ir * l + jc + jr)
                kernel(
                  kcur, pa.base + (mPadded * p0 + ir * kcur), bPanel, tile, ldc: l, rows: nrows, cols: ncols,
                  overwrite: p0 == 0, bias: last ? bp.map { $0.base + ir } : nil)
                ir += GEMM.mr
              }
              jr += GEMM.nr
            }
            p0 += kcur
          }
          jc += ncur
        }
      }
    }
    if flop < 1 << 20 || tasks == 1 {
      body(0..<tasks)
    } else {
      Parallel.forRanges(tasks, grain: 1, body)
    }
  }

  /// One thread's share of the weight gradient: adds `dY[b][:, l0..<l1] · im2col(X[b])[:, l0..<l1]ᵀ`
  /// for the (image, position) pairs `range` (flattened `b·positions + l`) to `acc [m, plan.rows]`.
  private static func weightGradientShare(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, imageStride: Int, m: Int, positions l: Int,
    range: Range<Int>, padding: ImagePadding, plan: Im2colPlan, into acc: UnsafeMutablePointer<Float>,
    biasInto biasAcc: UnsafeMutablePointer<Float>?
  ) {
    let k = plan.rows
    let mPadded = (m + GEMM.mr - 1) / GEMM.mr * GEMM.mr
    let kc = Swift.min(kcMax, range.count)
    let nb = Swift.min(blockColumns, (k + GEMM.nr - 1) / GEMM.nr * GEMM.nr)
    let bufA = PackPool.take(bytes: mPadded * kc * 4)
    let bufB = PackPool.take(bytes: kc * nb * 4)
    let scratch = padding.isIdentity ? nil : PackPool.take(bytes: padding.count * 4)
    defer {
      PackPool.give(bufA)
      PackPool.give(bufB)
      if let scratch { PackPool.give(scratch) }
    }
    let packA = bufA.base.bindMemory(to: Float.self, capacity: mPadded * kc)
    let packB = bufB.base.bindMemory(to: Float.self, capacity: kc * nb)
    #if QATKIT_AVX512
    // `[mPadded × nr]` tile accumulator of the direct path (see below), added to `acc` at the end.
    let direct = k < GEMM.nr
      ? UnsafeMutableRawPointer.allocate(byteCount: mPadded * GEMM.nr * 4, alignment: 64)
        .bindMemory(to: Float.self, capacity: mPadded * GEMM.nr) : nil
    direct?.update(repeating: 0, count: mPadded * GEMM.nr)
    defer {
      if let direct {
        for r in 0..<m {
          for j in 0..<k { acc[r * k + j] += direct[r * GEMM.nr + j] }
          biasAcc?[r] += direct[r * GEMM.nr + k]
        }
        UnsafeMutableRawPointer(direct).deallocate()
      }
    }
    #endif
    var g = range.lowerBound
    while g < range.upperBound {
      let b = g / l
      let l0 = g - b * l
      let l1 = Swift.min(l, l0 + (range.upperBound - g))
      let image = x + b * imageStride
      let p: UnsafePointer<Float>
      if let scratch {
        let s = scratch.base.bindMemory(to: Float.self, capacity: padding.count)
        padding.fill(image, into: s)
        p = UnsafePointer(s)
      } else {
        p = image
      }
      let dyImage = dy + b * m * l
      var q = l0
      #if QATKIT_AVX512
      if let direct {
        // One B panel with a spare column: dY rows feed the kernel unpacked, and a column of
        // ones in the spare slot sums them (the bias gradient) in the same pass.
        while q < l1 {
          let kcur = Swift.min(kc, l1 - q)
          packPatchPanels(p, packB, plan: plan, l0: q, kc: kcur, j0: 0, nc: k)
          for i in 0..<kcur { packB[i * GEMM.nr + k] = 1 }
          var ir = 0
          while ir < m {
            kernelRowsA(kcur, dyImage + (ir * l + q), lda: l, rows: Swift.min(GEMM.mr, m - ir), packB, direct + ir * GEMM.nr)
            ir += GEMM.mr
          }
          q += kcur
        }
        g += l1 - l0
        continue
      }
      #endif
      while q < l1 {
        let kcur = Swift.min(kc, l1 - q)
        packRowPanels(dyImage, ld: l, m: m, p0: q, kc: kcur, into: packA, rowSums: biasAcc)
        var jc = 0
        while jc < k {
          let ncur = Swift.min(nb, k - jc)
          packPatchPanels(p, packB, plan: plan, l0: q, kc: kcur, j0: jc, nc: ncur)
          var jr = 0
          while jr < ncur {
            let ncols = Swift.min(GEMM.nr, ncur - jr)
            var ir = 0
            while ir < m {
              GEMM.microKernel(
                kcur, packA + ir * kcur, packB + jr * kcur, acc + (ir * k + jc + jr), ldc: k,
                rows: Swift.min(GEMM.mr, m - ir), cols: ncols, overwrite: false)
              ir += GEMM.mr
            }
            jr += GEMM.nr
          }
          jc += ncur
        }
        q += kcur
      }
      g += l1 - l0
    }
  }

  /// Packs `src[0 ..< m, p0 ..< p0+kc]` (rows `ld` floats apart) into ``GEMM/mr``-row panels
  /// (`panel[p·mr + r]`, rows past `m` zero) and adds each row's sum over those columns to
  /// `rowSums[r]` when given. With 8-row panels, 16 rows × 16 columns go through a register
  /// transpose (each transposed vector is one column: its halves go to two panels).
  static func packRowPanels(
    _ src: UnsafePointer<Float>, ld: Int, m: Int, p0: Int, kc: Int, into dst: UnsafeMutablePointer<Float>,
    rowSums: UnsafeMutablePointer<Float>?
  ) {
    let mr = GEMM.mr
    var i = 0
    if mr == 8 {
      withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: 16) { rows in
        while i &+ 16 <= m {
          for r in 0..<16 { rows[r] = src + ((i &+ r) &* ld &+ p0) }
          let d0 = dst + i &* kc, d1 = d0 + 8 &* kc
          var sums = SIMD16<Float>()
          var q = 0
          while q &+ 16 <= kc {
            transpose16(rows.baseAddress!, offset: q) { v, j in
              sums += v
              UnsafeMutableRawPointer(d0 + (q &+ j) &* 8).storeBytes(of: v.lowHalf, as: SIMD8<Float>.self)
              UnsafeMutableRawPointer(d1 + (q &+ j) &* 8).storeBytes(of: v.highHalf, as: SIMD8<Float>.self)
            }
            q &+= 16
          }
          while q < kc {
            for r in 0..<16 {
              let v = rows[r]![q]
              sums[r] += v
              (r < 8 ? d0 : d1)[q &* 8 &+ (r & 7)] = v
            }
            q &+= 1
          }
          if let rowSums {
            for r in 0..<16 { rowSums[i &+ r] += sums[r] }
          }
          i &+= 16
        }
      }
    }
    // Remaining rows: panel by panel, element by element.
    while i < m {
      let rows = Swift.min(mr, m &- i)
      let panel = dst + i &* kc
      for r in 0..<mr {
        if r < rows {
          let s = src + ((i &+ r) &* ld &+ p0)
          var sum: Float = 0
          for p in 0..<kc {
            panel[p &* mr &+ r] = s[p]
            sum += s[p]
          }
          rowSums?[i &+ r] += sum
        } else {
          for p in 0..<kc { panel[p &* mr &+ r] = 0 }
        }
      }
      i &+= mr
    }
  }

  // MARK: Packing

  /// Packs `im2col(P)[r0 ..< r0+kc, j0 ..< j0+nc]` (rows = patch entries, columns = positions) into
  /// ``GEMM/nr``-wide panels (`panel[p·nr + c]`), zero-filling columns past `nc`. With stride 1, a
  /// panel row is a few runs of contiguous pixels (one per output row it spans).
  static func packPositionPanels(
    _ p: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, plan: Im2colPlan, r0: Int, kc: Int, j0: Int,
    nc: Int
  ) {
    let nr = GEMM.nr
    plan.rowOffsets.withUnsafeBufferPointer { offsets in
      withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * nr) { segs in
        var jr = 0
        while jr < nc {
          let cols = Swift.min(nr, nc &- jr)
          let panel = dst + jr &* kc
          if plan.stride == 1 {
            // Runs (panel column, source offset, length) of consecutive positions in one row.
            var count = 0
            var c = 0
            while c < cols {
              let l = j0 &+ jr &+ c
              let oy = l / plan.ow
              let ox = l &- oy &* plan.ow
              let len = Swift.min(cols &- c, plan.ow &- ox)
              segs[3 &* count] = c
              segs[3 &* count &+ 1] = oy &* plan.wp &+ ox
              segs[3 &* count &+ 2] = len
              count &+= 1
              c &+= len
            }
            for q in 0..<kc {
              let base = p + offsets[r0 &+ q]
              let d = panel + q &* nr
              for s in 0..<count {
                copyFloats(base + segs[3 &* s &+ 1], d + segs[3 &* s], segs[3 &* s &+ 2])
              }
              if cols < nr { (d + cols).update(repeating: 0, count: nr &- cols) }
            }
          } else {
            for c in 0..<cols { segs[c] = plan.positionOffset(j0 &+ jr &+ c) }
            for q in 0..<kc {
              let base = p + offsets[r0 &+ q]
              let d = panel + q &* nr
              for c in 0..<cols { d[c] = base[segs[c]] }
              if cols < nr { (d + cols).update(repeating: 0, count: nr &- cols) }
            }
          }
          jr &+= nr
        }
      }
    }
  }

  /// Packs `im2col(P)ᵀ[l0 ..< l0+kc, j0 ..< j0+nc]` (rows = positions, columns = patch entries)
  /// into ``GEMM/nr``-wide panels, zero-filling columns past `nc`. Sixteen positions in one output
  /// row (stride 1) × sixteen patch entries go through a register transpose; the rest element by
  /// element.
  static func packPatchPanels(
    _ p: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, plan: Im2colPlan, l0: Int, kc: Int, j0: Int,
    nc: Int
  ) {
    let nr = GEMM.nr
    plan.rowOffsets.withUnsafeBufferPointer { offsets in
      withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: 16) { rows in
        var jr = 0
        while jr < nc {
          let cols = Swift.min(nr, nc &- jr)
          let panel = dst + jr &* kc
          var cg = 0
          while cg < nr {
            for i in 0..<16 {
              let c = cg &+ i
              rows[i] = c < cols ? p + offsets[j0 &+ jr &+ c] : nil
            }
            var q = 0
            while q < kc {
              let l = l0 &+ q
              let oy = l / plan.ow
              let ox = l &- oy &* plan.ow
              let d = panel + (q &* nr &+ cg)
              if plan.stride == 1 && q &+ 16 <= kc && ox &+ 16 <= plan.ow {
                transpose16(rows.baseAddress!, offset: oy &* plan.wp &+ ox) { v, i in
                  UnsafeMutableRawPointer(d + i &* nr).storeBytes(of: v, as: SIMD16<Float>.self)
                }
                q &+= 16
              } else {
                let off = plan.positionOffset(l)
                for i in 0..<16 { d[i] = rows[i].map { $0[off] } ?? 0 }
                q &+= 1
              }
            }
            cg &+= 16
          }
          jr &+= nr
        }
      }
    }
  }

  /// Copies `n` floats.
  @inline(__always)
  private static func copyFloats(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i &+ 16 <= n {
      storeVector(loadVector(src + i), dst + i)
      i &+= 16
    }
    while i < n {
      dst[i] = src[i]
      i &+= 1
    }
  }
}

/// Transposes the 16×16 tile whose row `i` starts at `rows[i] + offset` (a `nil` row reads as
/// zeros): calls `store(v, q)` with `v[i] = rows[i][offset + q]` for `q` in `0..<16`.
@inline(__always)
private func transpose16(
  _ rows: UnsafePointer<UnsafePointer<Float>?>, offset: Int, _ store: (SIMD16<Float>, Int) -> Void
) {
  transposeTile16({ i in
    guard let r = rows[i] else { return SIMD16<Float>() }
    return UnsafeRawPointer(r + offset).loadUnaligned(as: SIMD16<Float>.self)
  }, store)
}
