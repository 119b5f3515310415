import Foundation
import QATKit

/// The numerics of the AWQ search, on plain arrays (row-major weights `[out, in]`).
enum AWQMath {
  /// ModelOpt's weight statistic per input channel: `|w| / max|w|` over the weight's range group
  /// (a block of `blockSize` inputs of one row, or the whole row without blocks), averaged over
  /// the rows of every weight (the layers sharing one scale).
  static func weightScale(_ weights: [Tensor], blockSize: Int?) -> [Float] {
    let cols = weights[0].shape[1]
    var sum = [Double](repeating: 0, count: cols)
    var rows = 0
    for w in weights {
      let out = w.shape[0]
      let block = blockSize ?? cols
      w.withUnsafeBufferPointer { p in
        for r in 0..<out {
          let base = r * cols
          var start = 0
          while start < cols {
            let end = Swift.min(cols, start + block)
            var m: Float = 0
            for i in start..<end { m = Swift.max(m, Swift.abs(p[base + i])) }
            let d = m + Float.leastNormalMagnitude
            for i in start..<end { sum[i] += Double(Swift.abs(p[base + i]) / d) }
            start = end
          }
        }
      }
      rows += out
    }
    return sum.map { Float($0 / Double(Swift.max(1, rows))) }
  }

  /// The AWQ scale of each input channel for migration strength `alpha`:
  /// `x^α / (w^(1-α) + tiny)`, clamped to `[1e-4, 1e4]`, divided by `√(max·min)` (ModelOpt's
  /// normalization, which centres the scales around 1).
  static func scales(act: [Float], weight: [Float], alpha: Float) -> [Float] {
    var s = zip(act, weight).map { x, w -> Float in
      let v = powf(x, alpha) / (powf(w, 1 - alpha) + Float.leastNormalMagnitude)
      return Swift.min(Swift.max(v.isNaN ? 1 : v, 1e-4), 1e4)
    }
    let hi = s.max() ?? 1, lo = s.min() ?? 1
    let norm = (hi * lo).squareRoot()
    for i in s.indices { s[i] /= norm }
    return s
  }

  /// `w` with column `i` multiplied by `factors[i]` (a new tensor).
  static func scaleColumns(_ w: Tensor, by factors: [Float]) throws -> Tensor {
    let cols = w.shape[1]
    var v = w.scalars
    v.withUnsafeMutableBufferPointer { p in
      for r in 0..<(p.count / cols) {
        let base = r * cols
        for i in 0..<cols { p[base + i] *= factors[i] }
      }
    }
    return try Tensor(v, shape: w.shape)
  }

  /// Multiplies column `i` of `w` by `factors[i]` in place.
  static func scaleColumnsInPlace(_ w: Tensor, by factors: [Float]) {
    let cols = w.shape[1]
    w.withUnsafeMutableBufferPointer { p in
      for r in 0..<(p.count / cols) {
        let base = r * cols
        for i in 0..<cols { p[base + i] *= factors[i] }
      }
    }
  }

  /// `x` viewed as rows of `width` values (`[..., width]` → `[M, width]`), no gradient.
  static func rows(_ x: Tensor, width: Int) throws -> Tensor {
    guard width > 0, x.shape.last == width else {
      throw QuantizerError.calibrationFailed(path: "", "input of shape \(x.shape) does not end in \(width) features")
    }
    return try Tensor(x.scalars, shape: [x.count / width, width])
  }

  /// `Σ (a - b)²`, accumulated in Double.
  static func squaredError(_ a: Tensor, _ b: Tensor) -> Double {
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        var total = 0.0
        var i = 0
        while i < pa.count {
          let end = Swift.min(pa.count, i + 4096)
          var partial: Float = 0
          for j in i..<end {
            let d = pa[j] - pb[j]
            partial += d * d
          }
          total += Double(partial)
          i = end
        }
        return total
      }
    }
  }

  /// Per-channel sums of `|x|` over the rows of `x [M, width]`.
  static func addAbsColumnSums(_ x: Tensor, into sums: inout [Double], offset: Int) {
    let width = x.shape[1]
    var partial = [Float](repeating: 0, count: width)
    x.withUnsafeBufferPointer { p in
      for r in 0..<x.shape[0] {
        let base = r * width
        for i in 0..<width { partial[i] += Swift.abs(p[base + i]) }
      }
    }
    for i in 0..<width { sums[offset + i] += Double(partial[i]) }
  }

  /// Adds `xᵀx` of `x [M, n]` to `gram` (`n·n` values, row-major), accumulated in Double.
  static func addGram(_ x: Tensor, into gram: inout [Double]) {
    let xt = x.transposed()
    let product = Tensor.withoutGrad { Tensor.matmul(xt, transposed: xt) }
    product.withUnsafeBufferPointer { p in
      gram.withUnsafeMutableBufferPointer { g in for j in 0..<p.count { g[j] += Double(p[j]) } }
    }
  }

  /// The output error of weight `weight [out, in]` scaled by `scale` (`nil`: unscaled) over the
  /// tokens whose Gram matrix is `gram [in, in]`: `Σ_r δ_r·gram·δ_rᵀ` with
  /// `Δ = Q(W ⊙ s) ⊘ s − W` (column `c` scaled by `s_c`; `Q` is `quantizer` with ranges from
  /// the scaled weight). Equals ``referenceLoss(rows:weight:scale:quantizer:)`` on the rows
  /// `X` with `gram = XᵀX`, up to float rounding (and without its cancellation of two large
  /// outputs).
  static func candidateLoss(gram: Tensor, weight: Tensor, scale: [Float]?, quantizer: any Quantizer) throws -> Double {
    let delta: Tensor
    if let scale {
      let wq = CalibrationSession.fakeQuantize(try scaleColumns(weight, by: scale), with: quantizer)
      let back = try scaleColumns(wq, by: scale.map { 1 / $0 })
      delta = Tensor.withoutGrad { back - weight }
    } else {
      delta = Tensor.withoutGrad { CalibrationSession.fakeQuantize(weight, with: quantizer) - weight }
    }
    let dh = Tensor.withoutGrad { Tensor.matmul(delta, transposed: gram) }
    return delta.withUnsafeBufferPointer { d in
      dh.withUnsafeBufferPointer { p in
        var total = 0.0
        for i in 0..<d.count { total += Double(d[i]) * Double(p[i]) }
        return total
      }
    }
  }

  /// The plain form of ``candidateLoss(gram:weight:scale:quantizer:)``, on the rows themselves:
  /// `Σ‖(X ⊘ s)·Q(W ⊙ s)ᵀ − X·Wᵀ‖²` summed over `rows` (each `[M, in]`).
  static func referenceLoss(rows: [Tensor], weight: Tensor, scale: [Float]?, quantizer: any Quantizer) throws -> Double {
    var total = 0.0
    for x in rows {
      let reference = Tensor.withoutGrad { Tensor.matmul(x, transposed: weight) }
      let out: Tensor
      if let scale {
        let wq = CalibrationSession.fakeQuantize(try scaleColumns(weight, by: scale), with: quantizer)
        let xs = try scaleColumns(x, by: scale.map { 1 / $0 })
        out = Tensor.withoutGrad { Tensor.matmul(xs, transposed: wq) }
      } else {
        let wq = CalibrationSession.fakeQuantize(weight, with: quantizer)
        out = Tensor.withoutGrad { Tensor.matmul(x, transposed: wq) }
      }
      total += squaredError(out, reference)
    }
    return total
  }
}
