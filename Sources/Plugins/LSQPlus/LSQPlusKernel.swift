import QATKit

/// Forward and backward of LSQ+ over contiguous buffers, one scale and offset per group, with
/// a plain reference implementation the tests compare against.
enum LSQPlusKernel {
  /// `y = clamp(rne((x − β) / s), n, p) · s + β`, recording LSQ+'s gradients: to `x` 1 inside
  /// the grid and 0 outside; to `s` `q − v` inside and the clipped bound outside; to `β` 0 inside
  /// and 1 outside (`v = (x − β) / s`); both parameter gradients times `gradScale`.
  static func forward(
    _ x: Tensor, scale: Tensor, offset: Tensor, layout: GroupLayout, lower n: Float, upper p: Float, gradScale: Float
  ) -> Tensor {
    let s = scale.scalars.map { Swift.max($0, 1e-12) }, beta = offset.scalars
    let count = x.count
    // Per element: 1 inside the grid, 0 below, 2 above; and q − v (inside) for ∂y/∂s.
    var region = [UInt8](repeating: 0, count: count)
    var residual = [Float](repeating: 0, count: count)
    let y = x.withUnsafeBufferPointer { px in
      region.withUnsafeMutableBufferPointer { pr in
        residual.withUnsafeMutableBufferPointer { pq in
          try! Tensor(shape: x.shape) { out in
            var groups = layout.groups.makeIterator()
            for i in 0..<count {
              let g = groups.next()!
              let v = (px[i] - beta[g]) / s[g]
              let q = Swift.min(Swift.max(v.rounded(.toNearestOrEven), n), p)
              out[i] = q * s[g] + beta[g]
              pr[i] = v < n ? 0 : (v > p ? 2 : 1)
              pq[i] = q - v
            }
          }
        }
      }
    }
    let shape = x.shape, groupCount = layout.groupCount
    return y.recording("lsq_plus", inputs: [x, scale, offset]) { grad in
      var gs = [Float](repeating: 0, count: groupCount), gb = [Float](repeating: 0, count: groupCount)
      let gx = grad.withUnsafeBufferPointer { gy in
        try! Tensor(shape: shape) { out in
          var groups = layout.groups.makeIterator()
          for i in 0..<count {
            let g = groups.next()!
            switch region[i] {
            case 1:
              out[i] = gy[i]
              gs[g] += gy[i] * residual[i]
            case 0:
              out[i] = 0
              gs[g] += gy[i] * n
              gb[g] += gy[i]
            default:
              out[i] = 0
              gs[g] += gy[i] * p
              gb[g] += gy[i]
            }
          }
        }
      }
      return [gx, Tensor(gs.map { $0 * gradScale }), Tensor(gb.map { $0 * gradScale })]
    }
  }

  /// The forward values by the definition, element by element: the reference for the kernel.
  static func reference(_ x: [Float], layout: GroupLayout, scale: [Float], offset: [Float], lower n: Float, upper p: Float) -> [Float] {
    x.indices.map { i in
      let g = layout.group(i)
      let s = Swift.max(scale[g], 1e-12)
      return Swift.min(Swift.max(((x[i] - offset[g]) / s).rounded(.toNearestOrEven), n), p) * s + offset[g]
    }
  }
}
