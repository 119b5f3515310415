internal import CQATKitKernels

extension Int8Linear {
  /// `y = LayerNorm(a + b)` over rows of ``inFeatures`` values (BERT's residual add and
  /// LayerNorm) into `normalized`, and this layer's input codes of `y` (+128, rows of ``depth``
  /// bytes) into `codes`, in one pass: each row is added, normalized in place and, a few rows at a
  /// time, quantized while still in L1. The same values as `(a + b).layerNorm(gamma:beta:eps:)`
  /// then ``quantizeInput(_:rows:isa:)`` (the same kernels per row).
  package func quantizeLayerNormInput(
    _ a: UnsafePointer<Float>, plus b: UnsafePointer<Float>, gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?,
    eps: Float, rows: Int, isa: Int8InstructionSet, normalized y: UnsafeMutablePointer<Float>,
    codes: UnsafeMutablePointer<UInt8>
  ) {
    guard rows > 0, inFeatures > 0 else { return }
    let d = inFeatures, depth = depth, multiplier = inputMultiplier, minCode = Int32(inputMinCode)
    let isaCode = Int32(isa.rawValue)
    let step = Swift.max(1, 8192 / d)
    let sa = SendableConstPointer(a), sb = SendableConstPointer(b), sy = SendablePointer(y), sc = SendablePointer(codes)
    let sg = gamma.map(SendableConstPointer.init), sbeta = beta.map(SendableConstPointer.init)
    Parallel.forRanges(rows, grain: Swift.max(1, 32_768 / d)) { range in
      var r = range.lowerBound
      while r < range.upperBound {
        let n = Swift.min(step, range.upperBound - r)
        for i in r..<(r + n) {
          let ar = sa.base + i * d, br = sb.base + i * d, yr = sy.base + i * d
          var j = 0
          while j + 16 <= d {
            UnsafeMutableRawPointer(yr + j).storeBytes(of: loadVector(ar + j) + loadVector(br + j), as: SIMD16<Float>.self)
            j += 16
          }
          while j < d { yr[j] = ar[j] + br[j]; j += 1 }
          _ = LayerNormKernels.forwardRow(yr, gamma: sg?.base, beta: sbeta?.base, yr, d: d, eps: eps)
        }
        qk_quantize_u8(
          isaCode, sy.base + r * d, Int32(n), Int32(d), Int32(d), multiplier, minCode, sc.base + r * depth, Int32(depth),
          Int32(depth))
        r += n
      }
    }
  }
}
