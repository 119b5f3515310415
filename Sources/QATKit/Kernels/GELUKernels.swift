/// GELU with the exact error function (PyTorch's default `gelu`, BERT's `hidden_act: gelu`)
/// as one vectorized pass per direction:
///
/// - forward `y = x·Φ(x) = ½·x·(1 + erf(x/√2))`;
/// - backward `dx = g·(Φ(x) + x·φ(x))` with `φ(x) = e^(−x²/2)/√(2π)`.
///
/// Both use ``VectorMath`` (`erf`, `exp` on 16 lanes); `reference…` are the libm loops the
/// tests compare against.
package enum GELUKernels {
  private static let invSqrt2: Float = 0.70710678118654752
  private static let invSqrt2Pi: Float = 0.39894228040143268

  /// `y[i] = gelu(x[i])` for `n` values.
  package static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let sx = SendableConstPointer(x), sy = SendablePointer(y)
    Parallel.forRanges(n, grain: 1 << 14) { r in forwardRange(r, sx.base, sy.base) }
  }

  /// ``forward(_:_:_:)`` of the values in `range` on the calling thread.
  package static func forwardRange(_ range: Range<Int>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    var i = range.lowerBound
    let end = range.upperBound
    while i &+ 16 <= end {
      let v = loadVector(x + i)
      let o = 0.5 * v * (1 + VectorMath.erf(v * invSqrt2))
      UnsafeMutableRawPointer(y + i).storeBytes(of: o, as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < end {
      let v = x[i]
      y[i] = 0.5 * v * (1 + VectorMath.erf(v * invSqrt2))
      i &+= 1
    }
  }

  /// `dx[i] = g[i]·gelu'(x[i])` for `n` values.
  package static func backward(
    _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    let sg = SendableConstPointer(g), sx = SendableConstPointer(x), sd = SendablePointer(dx)
    Parallel.forRanges(n, grain: 1 << 14) { r in
      var i = r.lowerBound
      let end = r.upperBound
      while i &+ 16 <= end {
        let v = loadVector(sx.base + i)
        let cdf = 0.5 * (1 + VectorMath.erf(v * invSqrt2))
        let pdf = invSqrt2Pi * VectorMath.exp(-0.5 * v * v)
        let o = loadVector(sg.base + i) * (cdf + v * pdf)
        UnsafeMutableRawPointer(sd.base + i).storeBytes(of: o, as: SIMD16<Float>.self)
        i &+= 16
      }
      while i < end {
        let v = sx.base[i]
        let cdf = 0.5 * (1 + VectorMath.erf(v * invSqrt2))
        let pdf = invSqrt2Pi * VectorMath.exp(-0.5 * v * v)
        sd.base[i] = sg.base[i] * (cdf + v * pdf)
        i &+= 1
      }
    }
  }

  /// `gelu(x)` with libm's `erff`.
  package static func referenceForward(_ x: Float) -> Float { 0.5 * x * (1 + _erff(x * invSqrt2)) }

  /// `gelu'(x)` with libm's `erff` and `expf`.
  package static func referenceDerivative(_ x: Float) -> Float {
    0.5 * (1 + _erff(x * invSqrt2)) + x * invSqrt2Pi * _expf(-0.5 * x * x)
  }
}
