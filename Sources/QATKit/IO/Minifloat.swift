/// Bit-level conversions between `Float` and the 16- and 8-bit float formats.
///
/// Encoding rounds to nearest, ties to even. Implemented with integer and power-of-two
/// arithmetic only, so results are identical on every platform.
package enum Minifloat {
  /// A binary floating-point format narrower than `Float`.
  package struct Format {
    let exponentBits: Int
    let mantissaBits: Int
    let bias: Int
    /// IEEE-like: the all-ones exponent holds infinities and NaNs. Otherwise (E4M3FN) only
    /// the all-ones pattern is NaN, and overflow saturates to ``maxFinite``.
    let hasInfinity: Bool
    let maxFinite: Float
    /// Bits of the largest finite magnitude.
    let maxBits: UInt32
    /// Bits written for NaN (no sign).
    let nanBits: UInt32

    var signBit: UInt32 { 1 << UInt32(exponentBits + mantissaBits) }
    var infinityBits: UInt32 { ((1 << UInt32(exponentBits)) - 1) << UInt32(mantissaBits) }
  }

  package static let half = Format(
    exponentBits: 5, mantissaBits: 10, bias: 15, hasInfinity: true, maxFinite: 65504, maxBits: 0x7BFF,
    nanBits: 0x7E00)
  package static let e5m2 = Format(
    exponentBits: 5, mantissaBits: 2, bias: 15, hasInfinity: true, maxFinite: 57344, maxBits: 0x7B, nanBits: 0x7E)
  package static let e4m3fn = Format(
    exponentBits: 4, mantissaBits: 3, bias: 7, hasInfinity: false, maxFinite: 448, maxBits: 0x7E, nanBits: 0x7F)

  /// Encodes `x` in `format`, rounding to nearest even. Overflow gives infinity (IEEE-like
  /// formats) or saturates to the largest finite value (E4M3FN); NaN gives `format.nanBits`.
  package static func encode(_ x: Float, _ format: Format) -> UInt32 {
    if x.isNaN { return format.nanBits }
    let sign: UInt32 = x.sign == .minus ? format.signBit : 0
    let magnitude = x.magnitude
    if magnitude == 0 { return sign }
    let overflowBits = format.hasInfinity ? format.infinityBits : format.maxBits
    if magnitude.isInfinite { return sign | overflowBits }
    let minExponent = 1 - format.bias
    let exponent = max(Int(magnitude.exponent), minExponent)
    let quantum = Float(sign: .plus, exponent: exponent - format.mantissaBits, significand: 1)
    let rounded = (magnitude / quantum).rounded(.toNearestOrEven) * quantum
    if rounded > format.maxFinite { return sign | overflowBits }
    if rounded == 0 { return sign }
    let roundedExponent = Int(rounded.exponent)
    if roundedExponent < minExponent {
      let unit = Float(sign: .plus, exponent: minExponent - format.mantissaBits, significand: 1)
      return sign | UInt32(rounded / unit)
    }
    let fraction = rounded / Float(sign: .plus, exponent: roundedExponent, significand: 1) - 1
    let mantissa = UInt32(fraction * Float(1 << format.mantissaBits))
    return sign | UInt32(roundedExponent + format.bias) << UInt32(format.mantissaBits) | mantissa
  }

  /// Decodes `bits` of `format` exactly.
  package static func decode(_ bits: UInt32, _ format: Format) -> Float {
    let mantissaMask: UInt32 = (1 << UInt32(format.mantissaBits)) - 1
    let exponentMask: UInt32 = (1 << UInt32(format.exponentBits)) - 1
    let negative = bits & format.signBit != 0
    let exponentField = (bits >> UInt32(format.mantissaBits)) & exponentMask
    let mantissa = bits & mantissaMask
    let floatSign: FloatingPointSign = negative ? .minus : .plus
    if format.hasInfinity, exponentField == exponentMask {
      if mantissa == 0 { return negative ? -.infinity : .infinity }
      let payload = mantissa << UInt32(23 - format.mantissaBits)
      return Float(bitPattern: (negative ? 0x8000_0000 : 0) | 0x7FC0_0000 | payload)
    }
    if !format.hasInfinity, exponentField == exponentMask, mantissa == mantissaMask {
      return Float(bitPattern: (negative ? 0x8000_0000 : 0) | 0x7FC0_0000)
    }
    if exponentField == 0 {
      let unit = Float(sign: floatSign, exponent: 1 - format.bias - format.mantissaBits, significand: 1)
      return Float(mantissa) * unit
    }
    let significand = 1 + Float(mantissa) / Float(1 << format.mantissaBits)
    return Float(sign: floatSign, exponent: Int(exponentField) - format.bias, significand: significand)
  }

  /// Encodes `x` as bfloat16 (round to nearest even; NaN stays NaN, made quiet).
  static func bfloat16(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    let lsb = (bits >> 16) & 1
    return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ lsb) >> 16)
  }

  /// Decodes bfloat16 bits exactly.
  static func float(bfloat16 bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
}
