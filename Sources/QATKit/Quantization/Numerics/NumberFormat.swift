/// A quantized number format: a signed or unsigned integer grid, or a small floating-point format.
///
/// Integer bounds follow NVIDIA ModelOpt: `maxBound = 2^(bits-1+unsigned) - 1`; `minBound` is `0`
/// for unsigned, `-maxBound` with `narrowRange`, else `-maxBound - 1`. The floating-point formats
/// are E4M3FN (max 448, no infinity), E5M2 (max 57344, IEEE-like with infinity) and E2M1 (FP4,
/// max 6). Construct integer formats with ``integer(bits:signed:narrowRange:)`` to validate them,
/// or call ``validate()`` on a decoded value.
public enum NumberFormat: Codable, Hashable, Sendable {
  /// A `bits`-wide integer grid (`2...8` bits).
  case int(bits: Int, signed: Bool, narrowRange: Bool)
  /// FP8 E4M3FN: 4 exponent bits, 3 mantissa bits, max 448, NaN = 0x7F/0xFF, no infinity.
  case fp8E4M3
  /// FP8 E5M2: 5 exponent bits, 2 mantissa bits, max 57344, has infinity.
  case fp8E5M2
  /// FP4 E2M1: values {0, 0.5, 1, 1.5, 2, 3, 4, 6} and their negatives.
  case fp4E2M1

  /// The range of integer bit widths accepted by ``validate()``.
  public static let supportedIntegerBits: ClosedRange<Int> = 2...8

  /// Creates a validated integer format.
  /// - Throws: ``QuantizationError/Kind/invalidBitWidth`` if `bits` is outside `2...8`.
  public static func integer(
    bits: Int, signed: Bool = true, narrowRange: Bool = false
  ) throws(QuantizationError) -> NumberFormat {
    let format = NumberFormat.int(bits: bits, signed: signed, narrowRange: narrowRange)
    try format.validate()
    return format
  }

  /// Checks that the format is usable (integer bit width in `2...8`).
  /// - Throws: ``QuantizationError/Kind/invalidBitWidth`` with the offending width.
  public func validate() throws(QuantizationError) {
    if case .int(let bits, _, _) = self, !Self.supportedIntegerBits.contains(bits) {
      throw QuantizationError(
        .invalidBitWidth,
        "integer bit width \(bits) is not supported; expected \(Self.supportedIntegerBits.lowerBound)...\(Self.supportedIntegerBits.upperBound)"
      )
    }
  }

  /// `true` for the integer formats.
  public var isInteger: Bool {
    if case .int = self { return true }
    return false
  }

  /// The largest quantized value: `2^(bits-1+unsigned) - 1` for integers, the largest finite value
  /// for floating-point formats (448, 57344, 6). Unvalidated bit widths are clamped to `1...24`.
  public var maxBound: Float {
    switch self {
    case .int(let bits, let signed, _):
      let b = min(max(bits, 1), 24) - (signed ? 1 : 0)
      return Float((1 << b) - 1)
    case .fp8E4M3: return 448
    case .fp8E5M2: return 57344
    case .fp4E2M1: return 6
    }
  }

  /// The smallest quantized value: `0` (unsigned), `-maxBound` (narrow range) or `-maxBound - 1`
  /// for integers; `-maxValue` for floating-point formats.
  public var minBound: Float {
    switch self {
    case .int(_, let signed, let narrowRange):
      if !signed { return 0 }
      return narrowRange ? -maxBound : -maxBound - 1
    case .fp8E4M3, .fp8E5M2, .fp4E2M1:
      return -maxBound
    }
  }

  /// The largest representable magnitude: `max(maxBound, -minBound)`.
  public var maxValue: Float { max(maxBound, -minBound) }
}

// `QuantGranularity` (perTensor / perChannel(axis:) / perBlock(size:)) is defined in
// Quantization/QuantizerAttributes.swift and shared by these kernels.
