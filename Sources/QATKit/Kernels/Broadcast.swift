/// NumPy broadcasting: shapes, strided iteration, and reduction back to an input's shape.
package enum Broadcast {
  /// The broadcast shape of `a` and `b`, or `nil` when they are incompatible.
  package static func shape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
      let da = i < r - a.count ? 1 : a[i - (r - a.count)]
      let db = i < r - b.count ? 1 : b[i - (r - b.count)]
      if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
  }

  /// Strides of `shape` seen inside `outShape`: 0 on broadcast (size-1 or missing) dimensions.
  package static func strides(of shape: [Int], in outShape: [Int]) -> [Int] {
    let r = outShape.count
    var strides = [Int](repeating: 0, count: r)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
      let o = i + (r - shape.count)
      strides[o] = shape[i] == 1 && outShape[o] != 1 ? 0 : s
      s *= shape[i]
    }
    return strides
  }

  /// Applies `K` over broadcast operands into a new buffer of `outShape`.
  package static func apply<K: BinaryKernel>(
    _ k: K.Type, _ a: Tensor, _ b: Tensor, outShape: [Int]
  ) -> [Float] {
    let n = outShape.reduce(1, *)
    var out = [Float](repeating: 0, count: n)
    guard n > 0 else { return out }
    a.storage.withUnsafeBufferPointer { pa in
      b.storage.withUnsafeBufferPointer { pb in
        out.withUnsafeMutableBufferPointer { po in
          let A = pa.baseAddress!, B = pb.baseAddress!, O = po.baseAddress!
          if a.shape == b.shape {
            let sa = SendableConstPointer(A), sb = SendableConstPointer(B), so = SendablePointer(O)
            Parallel.forRanges(n, grain: 1 << 16) { r in
              Elementwise.vv(k, sa.base + r.lowerBound, sb.base + r.lowerBound, so.base + r.lowerBound, r.count)
            }
          } else if b.count == 1 {
            Elementwise.vs(k, A, B[0], O, n)
          } else if a.count == 1 {
            Elementwise.sv(k, A[0], B, O, n)
          } else {
            strided(k, A, strides(of: a.shape, in: outShape), B, strides(of: b.shape, in: outShape), O, outShape)
          }
        }
      }
    }
    return out
  }

  private static func strided<K: BinaryKernel>(
    _ k: K.Type, _ A: UnsafePointer<Float>, _ sa: [Int], _ B: UnsafePointer<Float>, _ sb: [Int],
    _ O: UnsafeMutablePointer<Float>, _ shape: [Int]
  ) {
    let r = shape.count
    let inner = shape[r - 1]
    let ia = sa[r - 1], ib = sb[r - 1]
    let outer = shape.count > 1 ? shape[0..<(r - 1)].reduce(1, *) : 1
    var idx = [Int](repeating: 0, count: max(0, r - 1))
    var offA = 0, offB = 0, o = 0
    for _ in 0..<outer {
      let pa = A + offA, pb = B + offB, po = O + o
      switch (ia, ib) {
      case (1, 1): Elementwise.vv(k, pa, pb, po, inner)
      case (1, 0): Elementwise.vs(k, pa, pb[0], po, inner)
      case (0, 1): Elementwise.sv(k, pa[0], pb, po, inner)
      default: for j in 0..<inner { po[j] = K.apply(pa[0], pb[0]) }
      }
      o &+= inner
      // odometer over the outer dimensions
      var d = r - 2
      while d >= 0 {
        idx[d] += 1
        offA &+= sa[d]; offB &+= sb[d]
        if idx[d] < shape[d] { break }
        offA &-= sa[d] &* shape[d]; offB &-= sb[d] &* shape[d]
        idx[d] = 0
        d -= 1
      }
    }
  }

  /// Sums `g` (of `shape`) down to `target`, the shape of an operand that was broadcast.
  package static func sum(_ g: Tensor, to target: [Int]) -> Tensor {
    if g.shape == target { return g }
    let tCount = target.reduce(1, *)
    if tCount == 1 {
      return Tensor(shape: target, storage: [Kernels.sum(g.storage)])
    }
    let shape = g.shape
    let r = shape.count
    let st = strides(of: target, in: shape)
    var out = [Float](repeating: 0, count: tCount)
    let inner = shape[r - 1]
    let it = st[r - 1]
    let outer = r > 1 ? shape[0..<(r - 1)].reduce(1, *) : 1
    g.storage.withUnsafeBufferPointer { pg in
      out.withUnsafeMutableBufferPointer { po in
        let G = pg.baseAddress!, O = po.baseAddress!
        var idx = [Int](repeating: 0, count: max(0, r - 1))
        var offT = 0, i = 0
        for _ in 0..<outer {
          if it == 1 {
            Elementwise.vv(AddKernel.self, O + offT, G + i, O + offT, inner)
          } else {
            var s: Float = 0
            for j in 0..<inner { s += G[i &+ j] }
            O[offT] += s
          }
          i &+= inner
          var d = r - 2
          while d >= 0 {
            idx[d] += 1
            offT &+= st[d]
            if idx[d] < shape[d] { break }
            offT &-= st[d] &* shape[d]
            idx[d] = 0
            d -= 1
          }
        }
      }
    }
    return Tensor(shape: target, storage: out)
  }
}
