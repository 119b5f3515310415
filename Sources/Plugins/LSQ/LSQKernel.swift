import QATKit

/// Forward and backward of LSQ over contiguous buffers, one learned range per group.
enum LSQKernel {
  static func forward(
    _ x: Tensor, amax: Tensor, layout: GroupLayout, minBound: Float, maxBound: Float, gradScale: Bool
  ) -> Tensor {
    let xs = x.scalars
    let steps = amax.scalars.map { Swift.max($0, 1e-12) / maxBound }
    let n = xs.count
    var y = [Float](repeating: 0, count: n)
    // Per element: the gradient factor for x (clipping mask) and the d y / d s term.
    var mask = [Float](repeating: 0, count: n)
    var dyds = [Float](repeating: 0, count: n)
    xs.withUnsafeBufferPointer { px in
      y.withUnsafeMutableBufferPointer { py in
        mask.withUnsafeMutableBufferPointer { pm in
          dyds.withUnsafeMutableBufferPointer { pd in
            var groups = layout.groups.makeIterator()
            for i in 0..<n {
              let s = steps[groups.next()!]
              let v = px[i] / s
              let inside = v >= minBound && v <= maxBound
              let q = Swift.min(Swift.max(v.rounded(.toNearestOrEven), minBound), maxBound)
              py[i] = q * s
              pm[i] = inside ? 1 : 0
              pd[i] = inside ? q - v : q
            }
          }
        }
      }
    }
    let shape = x.shape
    let perGroup = n / Swift.max(layout.groupCount, 1)
    // d/d amax = d/d s · (1 / maxBound), times LSQ's gradient scale 1/√(n·maxBound).
    let k = (gradScale ? 1 / (Float(perGroup) * maxBound).squareRoot() : 1) / maxBound
    return (try! Tensor(y, shape: shape)).recording("lsq", inputs: [x, amax]) { g in
      let gs = g.scalars
      var gx = [Float](repeating: 0, count: n)
      var ga = [Float](repeating: 0, count: layout.groupCount)
      var groups = layout.groups.makeIterator()
      for i in 0..<n {
        gx[i] = gs[i] * mask[i]
        ga[groups.next()!] += gs[i] * dyds[i]
      }
      return [try! Tensor(gx, shape: shape), Tensor(ga.map { $0 * k })]
    }
  }
}
