/// Dynamic range statistics (`amax = max|x|`) used when a quantizer has no calibrated amax.
public enum Amax {
  /// `max|x|` per tensor, per channel or per block, in the same order the kernels expect
  /// (channel index along the axis; blocks in row-major order). NaN elements are ignored; an
  /// empty group gives `0`.
  /// - Throws: ``QuantizationError`` for an invalid shape, axis or block size.
  public static func maxAbs(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], granularity: QuantGranularity
  ) throws(QuantizationError) -> [Float] {
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: granularity)
    return maxAbs(x, layout: layout)
  }

  /// `max|x|` over the whole buffer (NaN ignored, `0` when empty).
  public static func maxAbs(_ x: UnsafeBufferPointer<Float>) -> Float {
    maxAbs(x, layout: ParamLayout(count: x.count, paramCount: 1, mode: .uniform))[0]
  }

  @inline(__always)
  static func spanMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    var i = 0
    while i &+ 16 <= n {
      let v = absVector(loadVector(p + i))
      acc = acc.replacing(with: v, where: v .> acc)
      i &+= 16
    }
    if i < n {
      let v = absVector(loadPartial(p + i, n &- i))
      acc = acc.replacing(with: v, where: v .> acc)
    }
    return horizontalMax(acc)
  }

  /// The ranges a kernel uses: the calibrated `amax` (one per parameter of `layout`) or, when
  /// `nil` (a dynamic range), `max|x|` per group.
  ///
  /// - Throws: ``QuantizationError`` when `amax` has the wrong count for `granularity`.
  package static func resolve(
    _ amax: UnsafeBufferPointer<Float>?, for x: UnsafeBufferPointer<Float>, layout: ParamLayout,
    granularity: QuantGranularity
  ) throws(QuantizationError) -> [Float] {
    guard let amax else { return maxAbs(x, layout: layout) }
    try checkCount(amax.count, layout.paramCount, "amax buffer for \(granularity)")
    return Array(amax)
  }

  package static func maxAbs(_ x: UnsafeBufferPointer<Float>, layout: ParamLayout) -> [Float] {
    let pcount = layout.paramCount
    var result = [Float](repeating: 0, count: pcount)
    let n = layout.count
    guard n > 0, let xb = x.baseAddress else { return result }
    let xs = SendableBox(xb)
    switch layout.mode {
    case .uniform:
      let chunks = (n + kernelGrain - 1) / kernelGrain
      var partial = [Float](repeating: 0, count: chunks)
      partial.withUnsafeMutableBufferPointer { pb in
        let ps = SendableBox(pb.baseAddress!)
        parallelChunks(total: chunks, grain: 1) { r in
          for c in r {
            let lo = c &* kernelGrain
            ps.value[c] = spanMax(xs.value + lo, min(kernelGrain, n &- lo))
          }
        }
      }
      result[0] = partial.reduce(0) { $1 > $0 ? $1 : $0 }
    case .segments(let length):
      let segments = (n + length - 1) / length
      if segments == pcount {  // blocks: one parameter per segment, write in place
        result.withUnsafeMutableBufferPointer { rb in
          let rs = SendableBox(rb.baseAddress!)
          parallelChunks(total: segments, grain: max(1, kernelGrain / length)) { r in
            for s in r { rs.value[s] = spanMax(xs.value + s &* length, length) }
          }
        }
        return result
      }
      var seg = [Float](repeating: 0, count: segments)
      seg.withUnsafeMutableBufferPointer { sb in
        let ss = SendableBox(sb.baseAddress!)
        parallelChunks(total: segments, grain: max(1, kernelGrain / length)) { r in
          for s in r {
            let lo = s &* length
            ss.value[s] = spanMax(xs.value + lo, min(length, n &- lo))
          }
        }
      }
      for s in 0..<segments {
        let p = s % pcount
        if seg[s] > result[p] { result[p] = seg[s] }
      }
    case .lanes:
      let rows = n / pcount
      for r in 0..<rows {
        let row = xb + r * pcount
        for j in 0..<pcount {
          let v = abs(row[j])
          if v > result[j] { result[j] = v }
        }
      }
    }
    return result
  }
}

@inline(__always)
package func absVector(_ v: SIMD16<Float>) -> SIMD16<Float> {
  unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: SIMD16<Float>.self)
}
