import QATKit

/// Forward and backward of trained ternary quantization over contiguous buffers, one pair of
/// scales per group, with a plain reference implementation the tests compare against.
enum TTQKernel {
  /// The ternary assignment of every element: `+1` above the group's threshold, `-1` below its
  /// negative, `0` between; the threshold is `t · max|w|` of the group.
  static func regions(_ w: UnsafeBufferPointer<Float>, layout: GroupLayout, threshold t: Float) -> [Int8] {
    var maxAbs = [Float](repeating: 0, count: layout.groupCount)
    maxAbs.withUnsafeMutableBufferPointer { m in
      var groups = layout.groups.makeIterator()
      for i in 0..<w.count {
        let g = groups.next()!
        let a = Swift.abs(w[i])
        if a > m[g] { m[g] = a }  // NaN never wins
      }
    }
    let delta = maxAbs.map { $0 * t }
    return [Int8](unsafeUninitializedCapacity: w.count) { r, count in
      var groups = layout.groups.makeIterator()
      for i in 0..<w.count {
        let d = delta[groups.next()!]
        r[i] = w[i] > d ? 1 : (w[i] < -d ? -1 : 0)
      }
      count = w.count
    }
  }

  /// `y = Wp` where the region is `+1`, `−Wn` where `−1`, `0` elsewhere; records the backward:
  /// `∂L/∂Wp = Σ_{+1} g`, `∂L/∂Wn = −Σ_{−1} g` per group, and the scaled straight-through
  /// gradient to the latent weights: `Wp·g`, `g`, `Wn·g` in the three regions.
  static func forward(_ w: Tensor, wp: Tensor, wn: Tensor, layout: GroupLayout, threshold: Float, learnScales: Bool) -> Tensor {
    let region = w.withUnsafeBufferPointer { regions($0, layout: layout, threshold: threshold) }
    let p = wp.scalars, n = wn.scalars
    let y = try! Tensor(shape: w.shape) { out in
      var groups = layout.groups.makeIterator()
      for i in 0..<out.count {
        let g = groups.next()!
        out[i] = region[i] > 0 ? p[g] : (region[i] < 0 ? -n[g] : 0)
      }
    }
    let shape = w.shape, groupCount = layout.groupCount
    let inputs = learnScales ? [w, wp, wn] : [w]
    return y.recording("ttq", inputs: inputs) { grad in
      var gp = [Float](repeating: 0, count: groupCount), gn = [Float](repeating: 0, count: groupCount)
      let gw = grad.withUnsafeBufferPointer { gy in
        try! Tensor(shape: shape) { gx in
          var groups = layout.groups.makeIterator()
          for i in 0..<gy.count {
            let g = groups.next()!
            switch region[i] {
            case 1:
              gx[i] = gy[i] * p[g]
              gp[g] += gy[i]
            case -1:
              gx[i] = gy[i] * n[g]
              gn[g] -= gy[i]
            default:
              gx[i] = gy[i]
            }
          }
        }
      }
      return learnScales ? [gw, Tensor(gp), Tensor(gn)] : [gw]
    }
  }

  /// The ternary values by the definition, element by element with ``GroupLayout/group(_:)``
  /// and `Double` thresholds: the reference the kernel is tested against.
  static func reference(_ w: [Float], shape: [Int], layout: GroupLayout, threshold: Float, wp: [Float], wn: [Float]) -> [Float] {
    var maxAbs = [Float](repeating: 0, count: layout.groupCount)
    for i in w.indices { maxAbs[layout.group(i)] = Swift.max(maxAbs[layout.group(i)], Swift.abs(w[i])) }
    return w.indices.map { i in
      let g = layout.group(i)
      let d = maxAbs[g] * threshold
      return w[i] > d ? wp[g] : (w[i] < -d ? -wn[g] : 0)
    }
  }
}
