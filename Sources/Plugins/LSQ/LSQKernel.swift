import QATKit

/// Forward and backward of LSQ over contiguous buffers, one learned range per group.
///
/// Elements are visited as runs that share one group (the whole tensor, one block, or the
/// `inner` elements of one channel), so the forward pass is a 16-lane loop per run. The
/// backward pass recomputes the clipping mask and `∂y/∂s` from the input (which the graph keeps
/// anyway) and the steps of the forward pass instead of storing two floats per element:
/// activations of a transformer are tens of megabytes each. Every value, and the order in which
/// range gradients are summed, is that of the plain per-element loop
/// (``reference(_:g:amax:layout:minBound:maxBound:)``), so results are bit-identical to it.
enum LSQKernel {
  /// Calls `body(group, range)` for each run of consecutive elements that share a group, in
  /// element order.
  @inline(__always)
  static func forEachRun(_ layout: GroupLayout, count n: Int, _ body: (Int, Range<Int>) -> Void) {
    switch layout.kind {
    case .tensor:
      body(0, 0..<n)
    case .block(let b):
      var start = 0
      while start < n {
        body(start / b, start..<Swift.min(n, start + b))
        start += b
      }
    case .channel(_, let c, let inner):
      guard inner > 0 else { return }
      var start = 0
      while start < n {
        body((start / inner) % c, start..<Swift.min(n, start + inner))
        start += inner
      }
    }
  }

  static func forward(
    _ x: Tensor, amax: Tensor, layout: GroupLayout, minBound: Float, maxBound: Float, gradScale: Bool
  ) -> Tensor {
    let xs = x.scalars
    let steps = amax.scalars.map { Swift.max($0, 1e-12) / maxBound }
    let n = xs.count
    let y = [Float](unsafeUninitializedCapacity: n) { py, initialized in
      xs.withUnsafeBufferPointer { px in
        guard let X = px.baseAddress, let Y = py.baseAddress else { return }
        let lo = SIMD16<Float>(repeating: minBound), hi = SIMD16<Float>(repeating: maxBound)
        forEachRun(layout, count: n) { g, run in
          let s = steps[g]
          let vs = SIMD16<Float>(repeating: s)
          var i = run.lowerBound
          while i + 16 <= run.upperBound {
            let v = UnsafeRawPointer(X + i).loadUnaligned(as: SIMD16<Float>.self) / vs
            var q = v.rounded(.toNearestOrEven)
            q = q.replacing(with: lo, where: q .< lo).replacing(with: hi, where: q .> hi)
            UnsafeMutableRawPointer(Y + i).storeBytes(of: q * vs, as: SIMD16<Float>.self)
            i += 16
          }
          while i < run.upperBound {
            let v = X[i] / s
            Y[i] = Swift.min(Swift.max(v.rounded(.toNearestOrEven), minBound), maxBound) * s
            i += 1
          }
        }
      }
      initialized = n
    }
    let shape = x.shape
    let groups = layout.groupCount
    let perGroup = n / Swift.max(groups, 1)
    // d/d amax = d/d s · (1 / maxBound), times LSQ's gradient scale 1/√(n·maxBound).
    let k = (gradScale ? 1 / (Float(perGroup) * maxBound).squareRoot() : 1) / maxBound
    return (try! Tensor(y, shape: shape)).recording("lsq", inputs: [x, amax]) { g in
      let gs = g.scalars
      var ga = [Float](repeating: 0, count: groups)
      let gx = [Float](unsafeUninitializedCapacity: n) { pgx, initialized in
        xs.withUnsafeBufferPointer { px in
          gs.withUnsafeBufferPointer { pg in
            forEachRun(layout, count: n) { grp, run in
              let s = steps[grp]
              var acc = ga[grp]
              for i in run {
                // The mask and ∂y/∂s of the forward pass, recomputed.
                let v = px[i] / s
                let inside = v >= minBound && v <= maxBound
                let q = Swift.min(Swift.max(v.rounded(.toNearestOrEven), minBound), maxBound)
                pgx[i] = pg[i] * (inside ? 1 : 0)
                acc += pg[i] * (inside ? q - v : q)
              }
              ga[grp] = acc
            }
          }
        }
        initialized = n
      }
      return [try! Tensor(gx, shape: shape), Tensor(ga.map { $0 * k })]
    }
  }

  /// The plain per-element loop the kernel is tested against: `y`, the input gradient for an
  /// output gradient `g`, and the range gradient (before LSQ's scale `k`).
  static func reference(
    _ x: [Float], g: [Float], amax: [Float], layout: GroupLayout, minBound: Float, maxBound: Float
  ) -> (y: [Float], gx: [Float], ga: [Float]) {
    let steps = amax.map { Swift.max($0, 1e-12) / maxBound }
    var y = [Float](repeating: 0, count: x.count), gx = y
    var ga = [Float](repeating: 0, count: layout.groupCount)
    for i in 0..<x.count {
      let s = steps[layout.group(i)]
      let v = x[i] / s
      let inside = v >= minBound && v <= maxBound
      let q = Swift.min(Swift.max(v.rounded(.toNearestOrEven), minBound), maxBound)
      y[i] = q * s
      gx[i] = g[i] * (inside ? 1 : 0)
      ga[layout.group(i)] += g[i] * (inside ? q - v : q)
    }
    return (y, gx, ga)
  }
}
