/// `exp` and `erf` on 16 lanes at once, for the transformer kernels (softmax, GELU).
///
/// libm's `expf` / `erff` are scalar calls (10-20 ns each): a MiniLM forward pass evaluates
/// `erf` 15 million times in its GELUs. These versions are branch-free polynomial
/// approximations that vectorize:
///
/// - `exp`: Cephes' `expf` (range reduction by `n = round(x / ln 2)` with `ln 2` split in two
///   parts, a degree-5 minimax polynomial on `[-ln2/2, ln2/2]`, then `2^n` as two exact
///   powers of two); within a few ulp of libm, 0 below `-87.34` (where `e^x` is subnormal),
///   `+inf` above `88.72`, NaN stays NaN.
/// - `erf`: the rational minimax approximation Eigen and XLA use for `float` (odd degree-13
///   numerator over even degree-8 denominator on `[-4, 4]`, `±1` outside); absolute error
///   below `2e-7` against libm.
///
/// `VectorMath.referenceExp` / `referenceErf` are the libm calls the tests compare against.
package enum VectorMath {
  /// `e^x` lane-wise (see the type's documentation for accuracy and range).
  @inline(__always)
  package static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let hi = SIMD16<Float>(repeating: 88.72283)
    let lo = SIMD16<Float>(repeating: -87.33654)
    // Clamp (NaN lanes become 0 here and NaN again at the end).
    var xc = x.replacing(with: hi, where: x .> hi).replacing(with: lo, where: x .< lo)
    xc = xc.replacing(with: 0, where: x .!= x)
    let n = (xc * 1.442695040888963).rounded(.toNearestOrEven)
    // r = x - n·ln2 with ln2 = C1 + C2 (C1 has few bits, so n·C1 is exact).
    var r = xc - n * 0.693359375
    r = r + n * 2.12194440e-4
    let r2 = r * r
    var p = SIMD16<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let y = p * r2 + r + 1
    // n (an integer-valued float in [-126, 128]) as Int32 by the 1.5·2^23 trick, then
    // y·2^n = y·2^n1·2^n2 with both halves normal floats, so overflow gives +inf and
    // underflow a subnormal or 0, as libm.
    let ni = unsafeBitCast(n + 12_582_912, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let n1 = ni &>> 1
    let n2 = ni &- n1
    let f1 = unsafeBitCast((n1 &+ 127) &<< 23, to: SIMD16<Float>.self)
    let f2 = unsafeBitCast((n2 &+ 127) &<< 23, to: SIMD16<Float>.self)
    let out = y * f1 * f2
    let inf = SIMD16<Float>(repeating: .infinity)
    return out.replacing(with: 0, where: x .< lo).replacing(with: inf, where: x .> hi)
      .replacing(with: x, where: x .!= x)
  }

  /// `erf(x)` lane-wise (see the type's documentation for accuracy).
  @inline(__always)
  package static func erf(_ a: SIMD16<Float>) -> SIMD16<Float> {
    let four = SIMD16<Float>(repeating: 4)
    let x = a.replacing(with: four, where: a .> four).replacing(with: -four, where: a .< -four)
    let x2 = x * x
    var p = x2 * -2.72614225801306e-10 + 2.77068142495902e-08
    p = x2 * p + -2.10102402082508e-06
    p = x2 * p + -5.69250639462346e-05
    p = x2 * p + -7.34990630326855e-04
    p = x2 * p + -2.95459980854025e-03
    p = x2 * p + -1.60960333262415e-02
    p = x * p
    var q = x2 * -1.45660718464996e-05 + -2.13374055278905e-04
    q = x2 * q + -1.68282697438203e-03
    q = x2 * q + -7.37332916720468e-03
    q = x2 * q + -1.42647390514189e-02
    return p / q
  }

  /// `e^x` by libm, the reference for ``exp(_:)``.
  package static func referenceExp(_ x: Float) -> Float { _expf(x) }

  /// `erf(x)` by libm, the reference for ``erf(_:)``.
  package static func referenceErf(_ x: Float) -> Float { _erff(x) }

  /// ``exp(_:)`` on one value (tails of buffers whose length is not a multiple of 16).
  @inline(__always)
  package static func exp(_ x: Float) -> Float { exp(SIMD16<Float>(repeating: x))[0] }

  /// ``erf(_:)`` on one value.
  @inline(__always)
  package static func erf(_ x: Float) -> Float { erf(SIMD16<Float>(repeating: x))[0] }
}
