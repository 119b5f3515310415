/// Scaled, masked softmax over the last axis, fused (attention probabilities).
///
/// Forward, per row `s` of `n` scores: `v = scale·s` where the key is kept, `−∞` where it is
/// masked; `p = e^(v − max v) / Σ e^(v − max v)` (numerically stable; masked keys get exactly
/// 0; a row whose keys are all masked is all zeros). Backward:
/// `ds = scale·p·(dp − Σ dp·p)`.
///
/// The key mask has one row of `n` values per group of `rowsPerMask` consecutive rows (for
/// attention scores `[B, H, T, S]`: one mask row per batch element, `rowsPerMask = H·T`);
/// nonzero keeps the key. `reference…` are the plain loops the tests compare against.
package enum SoftmaxKernels {
  /// Writes the probabilities of `rows` rows of `n` scores.
  package static func forward(
    _ s: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>, rows: Int, n: Int, scale: Float,
    mask: UnsafePointer<Float>?, rowsPerMask: Int
  ) {
    let ss = SendableConstPointer(s), sp = SendablePointer(p), sm = mask.map(SendableConstPointer.init)
    Parallel.forRanges(rows, grain: Swift.max(1, 4096 / Swift.max(n, 1))) { range in
      forwardRows(range, ss.base, sp.base, n: n, scale: scale, mask: sm?.base, rowsPerMask: rowsPerMask)
    }
  }

  /// ``forward(_:_:rows:n:scale:mask:rowsPerMask:)`` of the rows in `range` on the calling
  /// thread (`s` and `p` may be the same buffer: each row is read before it is written).
  package static func forwardRows(
    _ range: Range<Int>, _ s: UnsafePointer<Float>, _ p: UnsafeMutablePointer<Float>, n: Int, scale: Float,
    mask: UnsafePointer<Float>?, rowsPerMask: Int
  ) {
    let vscale = SIMD16<Float>(repeating: scale)
    let ninf = SIMD16<Float>(repeating: -.infinity)
    for r in range {
      let sr = s + r &* n, pr = p + r &* n
      let mr = mask.map { $0 + (r / rowsPerMask) &* n }
      // Pass 1: scaled (masked) scores into p, and their maximum.
      var vmax = ninf
      var j = 0
      while j &+ 16 <= n {
        var v = loadVector(sr + j) * vscale
        if let mr { v = v.replacing(with: ninf, where: loadVector(mr + j) .== 0) }
        vmax = vmax.replacing(with: v, where: v .> vmax)
        UnsafeMutableRawPointer(pr + j).storeBytes(of: v, as: SIMD16<Float>.self)
        j &+= 16
      }
      var m = vmax.max()
      while j < n {
        let v = (mr.map { $0[j] == 0 } ?? false) ? -Float.infinity : sr[j] * scale
        pr[j] = v
        if v > m { m = v }
        j &+= 1
      }
      if m == -.infinity {
        pr.update(repeating: 0, count: n)
        continue
      }
      // Pass 2: exponentials and their sum (masked lanes: e^-inf = 0).
      let vm = SIMD16<Float>(repeating: m)
      var acc = SIMD16<Float>()
      j = 0
      while j &+ 16 <= n {
        let e = VectorMath.exp(loadVector(pr + j) - vm)
        acc += e
        UnsafeMutableRawPointer(pr + j).storeBytes(of: e, as: SIMD16<Float>.self)
        j &+= 16
      }
      var sum = acc.sum()
      while j < n {
        let e = VectorMath.exp(pr[j] - m)
        pr[j] = e
        sum += e
        j &+= 1
      }
      // Pass 3: normalize.
      let inv = 1 / sum
      let vinv = SIMD16<Float>(repeating: inv)
      j = 0
      while j &+ 16 <= n {
        UnsafeMutableRawPointer(pr + j).storeBytes(of: loadVector(pr + j) * vinv, as: SIMD16<Float>.self)
        j &+= 16
      }
      while j < n { pr[j] *= inv; j &+= 1 }
    }
  }

  /// Writes the score gradients `ds` of `rows` rows from the probabilities `p` and their
  /// gradients `dp`.
  package static func backward(
    _ dp: UnsafePointer<Float>, _ p: UnsafePointer<Float>, _ ds: UnsafeMutablePointer<Float>,
    rows: Int, n: Int, scale: Float
  ) {
    let sdp = SendableConstPointer(dp), sp = SendableConstPointer(p), sds = SendablePointer(ds)
    Parallel.forRanges(rows, grain: Swift.max(1, 4096 / Swift.max(n, 1))) { range in
      for r in range {
        let gr = sdp.base + r &* n, pr = sp.base + r &* n, dr = sds.base + r &* n
        var acc = SIMD16<Float>()
        var j = 0
        while j &+ 16 <= n {
          acc += loadVector(gr + j) * loadVector(pr + j)
          j &+= 16
        }
        var dot = acc.sum()
        while j < n { dot += gr[j] * pr[j]; j &+= 1 }
        let vdot = SIMD16<Float>(repeating: dot), vscale = SIMD16<Float>(repeating: scale)
        j = 0
        while j &+ 16 <= n {
          let pv = loadVector(pr + j)
          let o = vscale * pv * (loadVector(gr + j) - vdot)
          UnsafeMutableRawPointer(dr + j).storeBytes(of: o, as: SIMD16<Float>.self)
          j &+= 16
        }
        while j < n { dr[j] = scale * pr[j] * (gr[j] - dot); j &+= 1 }
      }
    }
  }

  /// Plain forward in `Double` with libm's `exp`.
  package static func referenceForward(
    _ s: [Float], rows: Int, n: Int, scale: Float, mask: [Float]?, rowsPerMask: Int
  ) -> [Float] {
    var out = [Float](repeating: 0, count: rows * n)
    for r in 0..<rows {
      let keep = (0..<n).map { j in mask.map { $0[(r / rowsPerMask) * n + j] != 0 } ?? true }
      let v = (0..<n).map { Double(s[r * n + $0]) * Double(scale) }
      guard let m = (0..<n).filter({ keep[$0] }).map({ v[$0] }).max() else { continue }
      let e = (0..<n).map { keep[$0] ? _exp(v[$0] - m) : 0 }
      let sum = e.reduce(0, +)
      for j in 0..<n { out[r * n + j] = Float(e[j] / sum) }
    }
    return out
  }

  /// Plain backward in `Double`.
  package static func referenceBackward(_ dp: [Float], _ p: [Float], rows: Int, n: Int, scale: Float) -> [Float] {
    var out = [Float](repeating: 0, count: rows * n)
    for r in 0..<rows {
      var dot = 0.0
      for j in 0..<n { dot += Double(dp[r * n + j]) * Double(p[r * n + j]) }
      for j in 0..<n { out[r * n + j] = Float(Double(scale) * Double(p[r * n + j]) * (Double(dp[r * n + j]) - dot)) }
    }
    return out
  }
}
