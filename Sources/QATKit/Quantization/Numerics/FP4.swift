/// FP4 E2M1: the grid {0, 0.5, 1, 1.5, 2, 3, 4, 6} and negatives, with 4-bit codes
/// `sign << 3 | index` (index 0...7 in grid order).
///
/// Rounding is round-to-nearest, ties to the even mantissa (0.25→0, 0.75→1, 1.25→1, 1.75→2,
/// 2.5→2, 3.5→4, 5→4), saturating at ±6 — ModelOpt's `_cast_fp4` boundaries.
public enum FP4E2M1 {
  /// The non-negative grid values in code order.
  public static let grid: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6]
  /// Largest magnitude.
  public static let maxValue: Float = 6

  /// Rounds to the E2M1 grid (RNE, saturating at ±6; NaN stays NaN; the sign of zero is kept).
  @inline(__always)
  public static func round(_ x: Float) -> Float {
    MiniFloatSpec.e2m1.round(saturate(x, maxValue))
  }

  /// Lane-wise ``round(_:)-(Float)``.
  @inline(__always)
  public static func round(_ x: SIMD16<Float>) -> SIMD16<Float> {
    MiniFloatSpec.e2m1.round(saturate(x, maxValue))
  }

  /// Encodes to a 4-bit code (low nibble). Negative values that round to zero give code 8
  /// (as ModelOpt's `_cast_fp4`); NaN encodes as the maximum magnitude 6 with its sign.
  public static func encode(_ x: Float) -> UInt8 {
    let sign: UInt8 = x.sign == .minus ? 8 : 0
    if x.isNaN { return sign | 7 }
    let r = round(x).magnitude
    if r < 1 { return sign | UInt8(r * 2) }
    let bits = r.bitPattern
    let e = Int(bits >> 23) - 127
    return sign | UInt8(((e + 1) << 1) | Int((bits >> 22) & 1))
  }

  /// Decodes a 4-bit code (only the low nibble is used); code 8 decodes to `-0.0`.
  public static func decode(_ code: UInt8) -> Float {
    let v = grid[Int(code & 7)]
    return code & 8 != 0 ? -v : v
  }
}
