/// Round-half-to-even (`rint`) that is bit-identical to `Float.rounded(.toNearestOrEven)` and
/// vectorizes on every x86-64 level.
///
/// For `|v| < 2^23`, `(|v| + 2^23) - 2^23` is exact round-half-even of the magnitude (in
/// `[2^23, 2^24)` the fp32 ulp is 1); the sign of `v` is then OR-ed back, so negative values that
/// round to zero give `-0.0` exactly like `rint` and ModelOpt. Values with `|v| >= 2^23` are
/// already integers, and NaN and infinity are returned unchanged.
///
/// (Adding `1.5 * 2^23` without taking the magnitude is only correct for `|v| <= 2^22`, which is
/// why the magnitude form is used.)
public enum Rounding {
  /// Rounds to the nearest integer, ties to even; keeps the sign of zero.
  @inline(__always)
  public static func roundHalfEven(_ v: Float) -> Float {
    let bits = v.bitPattern
    let mag = Float(bitPattern: bits & 0x7FFF_FFFF)
    guard mag < 0x1p23 else { return v }
    let r = (mag + 0x1p23) - 0x1p23
    return Float(bitPattern: r.bitPattern | (bits & 0x8000_0000))
  }

  /// Lane-wise ``roundHalfEven(_:)-(Float)``.
  @inline(__always)
  public static func roundHalfEven(_ v: SIMD16<Float>) -> SIMD16<Float> {
    let bits = unsafeBitCast(v, to: SIMD16<UInt32>.self)
    let mag = unsafeBitCast(bits & 0x7FFF_FFFF, to: SIMD16<Float>.self)
    let r = (mag + 0x1p23) - 0x1p23
    let signed = unsafeBitCast(unsafeBitCast(r, to: SIMD16<UInt32>.self) | (bits & 0x8000_0000), to: SIMD16<Float>.self)
    return v.replacing(with: signed, where: mag .< 0x1p23)
  }

  /// Rounds every element of `x` half-to-even into `out` (which may be `x`'s own storage).
  /// - Throws: ``QuantizationError/Kind/bufferSizeMismatch`` if the counts differ.
  public static func roundHalfEven(
    _ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>
  ) throws(QuantizationError) {
    try checkCount(out.count, x.count, "output buffer")
    runLaneKernel(
      RoundKernel(), x, out, mask: nil, layout: ParamLayout(count: x.count, paramCount: 1, mode: .uniform),
      params: LaneParams(count: 1))
  }
}

private struct RoundKernel: LaneKernel {
  @inline(__always)
  func apply(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
    Rounding.roundHalfEven(x)
  }
  @inline(__always)
  func keep(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMDMask<SIMD16<Int32>> {
    SIMDMask(repeating: true)
  }
}
