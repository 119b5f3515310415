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
}
