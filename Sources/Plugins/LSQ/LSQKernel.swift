import QATKit

/// Forward and backward of LSQ over grouped contiguous buffers.
enum LSQKernel {
  static func forward(
    _ x: Tensor, amax: Tensor, layout: GroupLayout, minBound: Float, maxBound: Float, gradScale: Bool
  ) -> Tensor {
    let xs = x.scalars, a = amax.scalars
    var y = [Float](repeating: 0, count: xs.count)
    // Per element: the gradient factor for x (mask) and the d y / d s term.
    var mask = [Float](repeating: 0, count: xs.count)
    var dyds = [Float](repeating: 0, count: xs.count)
    xs.withUnsafeBufferPointer { px in
      y.withUnsafeMutableBufferPointer { py in
        mask.withUnsafeMutableBufferPointer { pm in
          dyds.withUnsafeMutableBufferPointer { pd in
            for o in 0..<layout.outer {
              for g in 0..<layout.groups {
                let s = Swift.max(a[g], 1e-12) / maxBound
                let inv = 1 / s
                let base = (o &* layout.groups &+ g) &* layout.inner
                for i in 0..<layout.inner {
                  let v = px[base &+ i] * inv
                  let inside = v >= minBound && v <= maxBound
                  let q = Swift.min(Swift.max(v.rounded(.toNearestOrEven), minBound), maxBound)
                  py[base &+ i] = q * s
                  pm[base &+ i] = inside ? 1 : 0
                  pd[base &+ i] = inside ? q - v : q
                }
              }
            }
          }
        }
      }
    }
    let shape = x.shape
    let perGroup = layout.outer * layout.inner
    let factor: Float = gradScale ? 1 / (Float(perGroup) * maxBound).squareRoot() : 1
    return (try! Tensor(y, shape: shape)).recording("lsq", inputs: [x, amax]) { g in
      let gs = g.scalars
      var gx = [Float](repeating: 0, count: gs.count)
      var ga = [Float](repeating: 0, count: layout.groups)
      for o in 0..<layout.outer {
        for grp in 0..<layout.groups {
          let base = (o * layout.groups + grp) * layout.inner
          var acc: Float = 0
          for i in 0..<layout.inner {
            gx[base + i] = gs[base + i] * mask[base + i]
            acc += gs[base + i] * dyds[base + i]
          }
          ga[grp] += acc
        }
      }
      // d/d amax = d/d s · (1 / maxBound), times LSQ's gradient scale.
      let k = factor / maxBound
      return [try! Tensor(gx, shape: shape), Tensor(ga.map { $0 * k })]
    }
  }
}
