/// Layer normalization over the last dimension as one kernel per direction.
///
/// Forward, per row of `d` values (the row stays in L1): the mean, then the biased variance
/// of the centered values (two sweeps, as accurate as PyTorch's), then
/// `y = (x − mean)·rstd·γ + β` with `rstd = 1/√(var + eps)`; `mean` and `rstd` are kept for
/// the backward pass. Backward, per row, with `x̂ = (x − mean)·rstd` and `ĝ = g·γ`:
/// `dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))`, and `dγ += g·x̂`, `dβ += g` summed over rows.
///
/// Rows run in parallel; `dγ`/`dβ` are summed per fixed chunk of rows and the chunks added
/// in order, so results do not depend on scheduling. The `reference…` functions are the plain
/// `Double` loops the tests compare against.
package enum LayerNormKernels {
  /// Rows per parallel chunk of the backward pass (fixed, so sums are deterministic).
  static let backwardChunkRows = 64

  /// Normalizes `rows` rows of `d` values. `gamma`/`beta` may be `nil` (1 and 0).
  package static func forward(
    _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    rows: Int, d: Int, eps: Float
  ) {
    let sx = SendableConstPointer(x), sy = SendablePointer(y)
    let sm = SendablePointer(mean), sr = SendablePointer(rstd)
    let sg = gamma.map(SendableConstPointer.init), sb = beta.map(SendableConstPointer.init)
    Parallel.forRanges(rows, grain: Swift.max(1, 8192 / Swift.max(d, 1))) { range in
      for r in range {
        (sm.base[r], sr.base[r]) = forwardRow(sx.base + r &* d, gamma: sg?.base, beta: sb?.base, sy.base + r &* d, d: d, eps: eps)
      }
    }
  }

  /// One row of ``forward(_:gamma:beta:_:mean:rstd:rows:d:eps:)`` on the calling thread; returns
  /// its mean and `rstd`. `x` and `y` may be the same row (each value is read before it is written).
  @inline(__always)
  package static func forwardRow(
    _ xr: UnsafePointer<Float>, gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?, _ yr: UnsafeMutablePointer<Float>,
    d: Int, eps: Float
  ) -> (mean: Float, rstd: Float) {
    let m = Kernels.sum(xr, d) / Float(d)
    let vm = SIMD16<Float>(repeating: m)
    var acc = SIMD16<Float>()
    var j = 0
    while j &+ 16 <= d {
      let c = loadVector(xr + j) - vm
      acc += c * c
      j &+= 16
    }
    var v = acc.sum()
    while j < d { let c = xr[j] - m; v += c * c; j &+= 1 }
    let rs = 1 / (v / Float(d) + eps).squareRoot()
    let vr = SIMD16<Float>(repeating: rs)
    j = 0
    while j &+ 16 <= d {
      var o = (loadVector(xr + j) - vm) * vr
      if let gamma { o *= loadVector(gamma + j) }
      if let beta { o += loadVector(beta + j) }
      UnsafeMutableRawPointer(yr + j).storeBytes(of: o, as: SIMD16<Float>.self)
      j &+= 16
    }
    while j < d {
      var o = (xr[j] - m) * rs
      if let gamma { o *= gamma[j] }
      if let beta { o += beta[j] }
      yr[j] = o
      j &+= 1
    }
    return (m, rs)
  }

  /// The backward pass: writes `dx` (`rows × d`) and, when given, `dgamma`/`dbeta` (`d`,
  /// overwritten with the sums over rows).
  package static func backward(
    _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    gamma: UnsafePointer<Float>?, dx: UnsafeMutablePointer<Float>,
    dgamma: UnsafeMutablePointer<Float>?, dbeta: UnsafeMutablePointer<Float>?, rows: Int, d: Int
  ) {
    let chunks = Swift.max(1, (rows &+ backwardChunkRows &- 1) / backwardChunkRows)
    let wantParams = dgamma != nil || dbeta != nil
    var partial = [Float](repeating: 0, count: wantParams ? chunks &* 2 &* d : 0)
    partial.withUnsafeMutableBufferPointer { pp in
      // An empty array may still have a base address: only use it when sums are wanted.
      let sp = wantParams ? pp.baseAddress.map(SendablePointer.init) : nil
      let sgr = SendableConstPointer(g), sx = SendableConstPointer(x)
      let sm = SendableConstPointer(mean), sr = SendableConstPointer(rstd)
      let sgam = gamma.map(SendableConstPointer.init), sdx = SendablePointer(dx)
      Parallel.forRanges(chunks, grain: 1) { chunkRange in
        for c in chunkRange {
          let pg = sp.map { $0.base + c &* 2 &* d }
          let pb = pg.map { $0 + d }
          let lo = c &* backwardChunkRows, hi = Swift.min(rows, lo &+ backwardChunkRows)
          for r in lo..<hi {
            let gr = sgr.base + r &* d, xr = sx.base + r &* d, dxr = sdx.base + r &* d
            let m = sm.base[r], rs = sr.base[r]
            let vm = SIMD16<Float>(repeating: m), vr = SIMD16<Float>(repeating: rs)
            var sa = SIMD16<Float>(), sb = SIMD16<Float>()
            var ta: Float = 0, tb: Float = 0
            var j = 0
            while j &+ 16 <= d {
              let xh = (loadVector(xr + j) - vm) * vr
              var gh = loadVector(gr + j)
              if let gam = sgam { gh *= loadVector(gam.base + j) }
              sa += gh
              sb += gh * xh
              j &+= 16
            }
            while j < d {
              let xh = (xr[j] - m) * rs
              var gh = gr[j]
              if let gam = sgam { gh *= gam.base[j] }
              ta += gh
              tb += gh * xh
              j &+= 1
            }
            let invD = 1 / Float(d)
            let meanG = (sa.sum() + ta) * invD, meanGX = (sb.sum() + tb) * invD
            let vmg = SIMD16<Float>(repeating: meanG), vmgx = SIMD16<Float>(repeating: meanGX)
            j = 0
            while j &+ 16 <= d {
              let xh = (loadVector(xr + j) - vm) * vr
              let g0 = loadVector(gr + j)
              var gh = g0
              if let gam = sgam { gh *= loadVector(gam.base + j) }
              let o = vr * (gh - vmg - xh * vmgx)
              UnsafeMutableRawPointer(dxr + j).storeBytes(of: o, as: SIMD16<Float>.self)
              if let pg, let pb {
                UnsafeMutableRawPointer(pg + j).storeBytes(of: loadVector(pg + j) + g0 * xh, as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(pb + j).storeBytes(of: loadVector(pb + j) + g0, as: SIMD16<Float>.self)
              }
              j &+= 16
            }
            while j < d {
              let xh = (xr[j] - m) * rs
              let g0 = gr[j]
              var gh = g0
              if let gam = sgam { gh *= gam.base[j] }
              dxr[j] = rs * (gh - meanG - xh * meanGX)
              if let pg, let pb {
                pg[j] += g0 * xh
                pb[j] += g0
              }
              j &+= 1
            }
          }
        }
      }
      guard wantParams, let base = pp.baseAddress else { return }
      if let dgamma { dgamma.update(repeating: 0, count: d) }
      if let dbeta { dbeta.update(repeating: 0, count: d) }
      for c in 0..<chunks {
        let pg = base + c &* 2 &* d
        if let dgamma { Elementwise.vv(AddKernel.self, dgamma, pg, dgamma, d) }
        if let dbeta { Elementwise.vv(AddKernel.self, dbeta, pg + d, dbeta, d) }
      }
    }
  }

  /// Plain forward in `Double`: returns `y`, `mean`, `rstd`.
  package static func referenceForward(
    _ x: [Float], gamma: [Float]?, beta: [Float]?, rows: Int, d: Int, eps: Float
  ) -> (y: [Float], mean: [Float], rstd: [Float]) {
    var y = [Float](repeating: 0, count: rows * d), mean = [Float](repeating: 0, count: rows)
    var rstd = mean
    for r in 0..<rows {
      let row = (0..<d).map { Double(x[r * d + $0]) }
      let m = row.reduce(0, +) / Double(d)
      let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(d)
      let rs = 1 / (v + Double(eps)).squareRoot()
      mean[r] = Float(m)
      rstd[r] = Float(rs)
      for j in 0..<d {
        var o = (row[j] - m) * rs
        if let gamma { o *= Double(gamma[j]) }
        if let beta { o += Double(beta[j]) }
        y[r * d + j] = Float(o)
      }
    }
    return (y, mean, rstd)
  }

  /// Plain backward in `Double`: returns `dx`, `dgamma`, `dbeta`.
  package static func referenceBackward(
    _ g: [Float], _ x: [Float], gamma: [Float]?, rows: Int, d: Int, eps: Float
  ) -> (dx: [Float], dgamma: [Float], dbeta: [Float]) {
    var dx = [Float](repeating: 0, count: rows * d)
    var dgamma = [Double](repeating: 0, count: d), dbeta = dgamma
    for r in 0..<rows {
      let row = (0..<d).map { Double(x[r * d + $0]) }
      let m = row.reduce(0, +) / Double(d)
      let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(d)
      let rs = 1 / (v + Double(eps)).squareRoot()
      let xh = row.map { ($0 - m) * rs }
      let gr = (0..<d).map { Double(g[r * d + $0]) }
      let gh = (0..<d).map { gr[$0] * Double(gamma?[$0] ?? 1) }
      let mg = gh.reduce(0, +) / Double(d)
      let mgx = zip(gh, xh).map(*).reduce(0, +) / Double(d)
      for j in 0..<d {
        dx[r * d + j] = Float(rs * (gh[j] - mg - xh[j] * mgx))
        dgamma[j] += gr[j] * xh[j]
        dbeta[j] += gr[j]
      }
    }
    return (dx, dgamma.map { Float($0) }, dbeta.map { Float($0) })
  }
}
