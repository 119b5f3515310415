/// Max and average pooling over `k × k` windows (stride `s`) of `[planes, h, w]` buffers, split
/// over planes across the worker pool.
///
/// Max pooling keeps, per output, the window-local index (`ky·k + kx`) of the first maximum in scan
/// order (strict `>`, starting from `-∞`, so NaN never wins and an all-NaN window picks its first
/// element), exactly as `Tensor.maxPool2dReference`; the backward sends each output's gradient
/// there. `k = s = 2`, the common case, runs 16 windows per step: the even and odd lanes of two
/// image rows are the window's four candidates, and the backward writes both rows of every window
/// (gradient or zero) instead of zero-filling and scattering.
package struct Pool2dGeometry: Sendable {
  /// `N·C` planes of `h × w`, window `k`, stride `s`.
  package let planes: Int, h: Int, w: Int, k: Int, s: Int
  /// Output height and width.
  package var ho: Int { (h - k) / s + 1 }
  package var wo: Int { (w - k) / s + 1 }

  package init(planes: Int, h: Int, w: Int, k: Int, s: Int) {
    self.planes = planes
    self.h = h
    self.w = w
    self.k = k
    self.s = s
  }

  /// Planes per parallel chunk (about 64 Ki input elements).
  var grain: Int { Swift.max(1, kernelGrain / Swift.max(1, h * w)) }
}

package enum Pool2dKernels {
  /// Index of a ReLU-fused window whose maximum is not positive: no input gets a gradient.
  package static let noGradient: UInt16 = 0xFFFF

  /// `y [planes, ho, wo]` = window maxima, `index` = window-local position of each maximum.
  ///
  /// With `relu`, `y = max > 0 ? max : 0` and windows whose maximum is not positive get the index
  /// ``noGradient``: `maxPool(relu(x))` in one pass (ReLU commutes with the maximum, and the
  /// first maximum of `relu(x)` is the first maximum of `x` whenever it is positive).
  package static func maxForward(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, index: UnsafeMutablePointer<UInt16>,
    _ g: Pool2dGeometry, relu: Bool = false
  ) {
    let (h, w, ho, wo) = (g.h, g.w, g.ho, g.wo)
    let xs = SendableBox(x), ys = SendableBox(y), ids = SendableBox(index)
    parallelChunks(total: g.planes, grain: g.grain) { r in
      for plane in r {
        let xp = xs.value + plane &* h &* w, yp = ys.value + plane &* ho &* wo, ip = ids.value + plane &* ho &* wo
        if g.k == 2 && g.s == 2 {
          for oy in 0..<ho {
            if relu {
              maxRow2x2(xp + 2 &* oy &* w, w: w, yp + oy &* wo, ip + oy &* wo, wo: wo, relu: true)
            } else {
              maxRow2x2(xp + 2 &* oy &* w, w: w, yp + oy &* wo, ip + oy &* wo, wo: wo, relu: false)
            }
          }
        } else {
          for oy in 0..<ho {
            for ox in 0..<wo {
              let start = oy &* g.s &* w &+ ox &* g.s
            let base = xp + start
              var best = -Float.infinity
              var bi = 0
              for ky in 0..<g.k {
                for kx in 0..<g.k where base[ky &* w &+ kx] > best {
                  best = base[ky &* w &+ kx]
                  bi = ky &* g.k &+ kx
                }
              }
              if relu && !(best > 0) {
                yp[oy &* wo &+ ox] = 0
                ip[oy &* wo &+ ox] = noGradient
              } else {
                yp[oy &* wo &+ ox] = best
                ip[oy &* wo &+ ox] = UInt16(truncatingIfNeeded: bi)
              }
            }
          }
        }
      }
    }
  }

  /// `gx [planes, h, w]`: each output's gradient at its maximum, zero elsewhere (every element
  /// written).
  package static func maxBackward(
    _ gy: UnsafePointer<Float>, index: UnsafePointer<UInt16>, _ gx: UnsafeMutablePointer<Float>, _ g: Pool2dGeometry
  ) {
    let (h, w, ho, wo) = (g.h, g.w, g.ho, g.wo)
    let gs = SendableBox(gy), ids = SendableBox(index), xs = SendableBox(gx)
    parallelChunks(total: g.planes, grain: g.grain) { r in
      for plane in r {
        let gp = gs.value + plane &* ho &* wo, ip = ids.value + plane &* ho &* wo, xp = xs.value + plane &* h &* w
        if g.k == 2 && g.s == 2 {
          for oy in 0..<ho {
            let row = xp + 2 &* oy &* w
            maxBackRow2x2(gp + oy &* wo, ip + oy &* wo, wo: wo, row, w: w)
            let covered = 2 &* wo
            if w > covered {
              (row + covered).update(repeating: 0, count: w &- covered)
              (row + (w &+ covered)).update(repeating: 0, count: w &- covered)
            }
          }
          if h > 2 &* ho { (xp + 2 &* ho &* w).update(repeating: 0, count: (h &- 2 &* ho) &* w) }
        } else {
          xp.update(repeating: 0, count: h &* w)
          for oy in 0..<ho {
            for ox in 0..<wo {
              guard ip[oy &* wo &+ ox] != noGradient else { continue }
              let i = Int(ip[oy &* wo &+ ox])
              let ky = i / g.k, kx = i &- ky &* g.k
              let iy = oy &* g.s &+ ky, ix = ox &* g.s &+ kx
              xp[iy &* w &+ ix] += gp[oy &* wo &+ ox]
            }
          }
        }
      }
    }
  }

  /// `y [planes, ho, wo]` = window means (sum in scan order times `1/k²`).
  package static func avgForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ g: Pool2dGeometry) {
    let (h, w, ho, wo) = (g.h, g.w, g.ho, g.wo)
    let inv = 1 / Float(g.k &* g.k)
    let xs = SendableBox(x), ys = SendableBox(y)
    parallelChunks(total: g.planes, grain: g.grain) { r in
      for plane in r {
        let xp = xs.value + plane &* h &* w, yp = ys.value + plane &* ho &* wo
        for oy in 0..<ho {
          for ox in 0..<wo {
            let start = oy &* g.s &* w &+ ox &* g.s
            let base = xp + start
            var acc: Float = 0
            for ky in 0..<g.k {
              for kx in 0..<g.k { acc += base[ky &* w &+ kx] }
            }
            yp[oy &* wo &+ ox] = acc * inv
          }
        }
      }
    }
  }

  /// `gx [planes, h, w]`: every window's gradient times `1/k²` added to its inputs (every element
  /// written).
  package static func avgBackward(_ gy: UnsafePointer<Float>, _ gx: UnsafeMutablePointer<Float>, _ g: Pool2dGeometry) {
    let (h, w, ho, wo) = (g.h, g.w, g.ho, g.wo)
    let inv = 1 / Float(g.k &* g.k)
    let gs = SendableBox(gy), xs = SendableBox(gx)
    parallelChunks(total: g.planes, grain: g.grain) { r in
      for plane in r {
        let gp = gs.value + plane &* ho &* wo, xp = xs.value + plane &* h &* w
        xp.update(repeating: 0, count: h &* w)
        for oy in 0..<ho {
          for ox in 0..<wo {
            let v = gp[oy &* wo &+ ox] * inv
            let start = oy &* g.s &* w &+ ox &* g.s
            let base = xp + start
            for ky in 0..<g.k {
              for kx in 0..<g.k { base[ky &* w &+ kx] += v }
            }
          }
        }
      }
    }
  }

  // MARK: 2×2, stride 2

  /// One output row of 2×2 / stride-2 max pooling from input rows `r0` and `r0 + w`.
  @inline(__always)
  private static func maxRow2x2(
    _ r0: UnsafePointer<Float>, w: Int, _ y: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<UInt16>, wo: Int,
    relu: Bool
  ) {
    let r1 = r0 + w
    var ox = 0
    while ox &+ 16 <= wo {
      let a0 = loadVector(r0 + 2 &* ox), a1 = loadVector(r0 + (2 &* ox &+ 16))
      let b0 = loadVector(r1 + 2 &* ox), b1 = loadVector(r1 + (2 &* ox &+ 16))
      let v0 = SIMD16(lowHalf: a0.evenHalf, highHalf: a1.evenHalf)
      let v1 = SIMD16(lowHalf: a0.oddHalf, highHalf: a1.oddHalf)
      let v2 = SIMD16(lowHalf: b0.evenHalf, highHalf: b1.evenHalf)
      let v3 = SIMD16(lowHalf: b0.oddHalf, highHalf: b1.oddHalf)
      var best = SIMD16<Float>(repeating: -.infinity)
      var id = SIMD16<Int32>()
      var m = v0 .> best
      best.replace(with: v0, where: m)
      m = v1 .> best
      best.replace(with: v1, where: m)
      id.replace(with: 1, where: m)
      m = v2 .> best
      best.replace(with: v2, where: m)
      id.replace(with: 2, where: m)
      m = v3 .> best
      best.replace(with: v3, where: m)
      id.replace(with: 3, where: m)
      if relu {
        let positive = best .> 0
        best = SIMD16<Float>().replacing(with: best, where: positive)
        id = SIMD16<Int32>(repeating: Int32(noGradient)).replacing(with: id, where: positive)
      }
      storeVector(best, y + ox)
      var narrow = SIMD16<UInt16>()
      for j in 0..<16 { narrow[j] = UInt16(truncatingIfNeeded: id[j]) }
      UnsafeMutableRawPointer(idx + ox).storeBytes(of: narrow, as: SIMD16<UInt16>.self)
      ox &+= 16
    }
    while ox < wo {
      var best = -Float.infinity
      var bi: UInt16 = 0
      @inline(__always) func visit(_ v: Float, _ j: UInt16) {
        if v > best {
          best = v
          bi = j
        }
      }
      visit(r0[2 &* ox], 0)
      visit(r0[2 &* ox &+ 1], 1)
      visit(r1[2 &* ox], 2)
      visit(r1[2 &* ox &+ 1], 3)
      if relu && !(best > 0) {
        best = 0
        bi = noGradient
      }
      y[ox] = best
      idx[ox] = bi
      ox &+= 1
    }
  }

  /// Writes input rows `r0` and `r0 + w` (columns `0 ..< 2·wo`) of a 2×2 / stride-2 max-pooling
  /// gradient.
  @inline(__always)
  private static func maxBackRow2x2(
    _ gy: UnsafePointer<Float>, _ idx: UnsafePointer<UInt16>, wo: Int, _ r0: UnsafeMutablePointer<Float>, w: Int
  ) {
    let r1 = r0 + w
    var ox = 0
    while ox &+ 16 <= wo {
      let gv = loadVector(gy + ox)
      let n = UnsafeRawPointer(idx + ox).loadUnaligned(as: SIMD16<UInt16>.self)
      // Widening and `.==` on integer vectors stay lane loops or calls; constant lane indices and
      // bit operations compile to vector instructions: `select(j)` is all ones where index == j.
      let id = SIMD16<Int32>(
        Int32(n[0]), Int32(n[1]), Int32(n[2]), Int32(n[3]), Int32(n[4]), Int32(n[5]), Int32(n[6]), Int32(n[7]),
        Int32(n[8]), Int32(n[9]), Int32(n[10]), Int32(n[11]), Int32(n[12]), Int32(n[13]), Int32(n[14]), Int32(n[15]))
      let bits = unsafeBitCast(gv, to: SIMD16<Int32>.self)
      @inline(__always) func select(_ j: Int32) -> SIMD16<Float> {
        let m = ((id ^ SIMD16(repeating: j)) &- 1) &>> 31
        return unsafeBitCast(bits & m, to: SIMD16<Float>.self)
      }
      let t0 = select(0), t1 = select(1), t2 = select(2), t3 = select(3)
      let (a0, a1) = interleave(t0, t1)
      let (b0, b1) = interleave(t2, t3)
      storeVector(a0, r0 + 2 &* ox)
      storeVector(a1, r0 + (2 &* ox &+ 16))
      storeVector(b0, r1 + 2 &* ox)
      storeVector(b1, r1 + (2 &* ox &+ 16))
      ox &+= 16
    }
    while ox < wo {
      let v = gy[ox], i = idx[ox]
      r0[2 &* ox] = i == 0 ? v : 0
      r0[2 &* ox &+ 1] = i == 1 ? v : 0
      r1[2 &* ox] = i == 2 ? v : 0
      r1[2 &* ox &+ 1] = i == 3 ? v : 0
      ox &+= 1
    }
  }

  /// `([a0, b0, a1, b1, …, a7, b7], [a8, b8, …, a15, b15])`.
  @inline(__always)
  private static func interleave(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
    // Constant lane indices: LLVM turns each initializer into one two-source permute.
    let lo = SIMD16<Float>(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7])
    let hi = SIMD16<Float>(
      a[8], b[8], a[9], b[9], a[10], b[10], a[11], b[11], a[12], b[12], a[13], b[13], a[14], b[14], a[15], b[15])
    return (lo, hi)
  }
}
