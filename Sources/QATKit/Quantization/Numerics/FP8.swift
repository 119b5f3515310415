/// FP8 E4M3FN / E5M2 rounding, 8-bit codes, and ModelOpt's scaled FP8 fake quantization.
///
/// All rounding is round-to-nearest-even, computed exactly from the fp32 bits (no tables).
/// E4M3FN: max 448, smallest subnormal 2^-9, no infinity, NaN = `0x7F`/`0xFF`.
/// E5M2: max 57344, smallest subnormal 2^-16, infinity `0x7C`/`0xFC`, NaN encoded as `0x7E`/`0xFE`.
public enum FP8 {
  /// Largest finite E4M3FN value.
  public static let e4m3Max: Float = 448
  /// Largest finite E5M2 value.
  public static let e5m2Max: Float = 57344

  /// Rounds to the nearest E4M3FN value (ties to even).
  ///
  /// With `saturating` (the fake-quant behaviour) the input is first clamped to ±448. Without it,
  /// the result follows PyTorch's `float8_e4m3fn` cast: magnitudes that round above 448 (that is,
  /// above 464, and infinities) become NaN. NaN stays NaN.
  @inline(__always)
  public static func roundE4M3(_ x: Float, saturating: Bool = true) -> Float {
    if saturating { return MiniFloatSpec.e4m3.round(saturate(x, e4m3Max)) }
    let r = MiniFloatSpec.e4m3.round(x)
    return r.magnitude > e4m3Max ? (x.sign == .minus ? -Float.nan : .nan) : r
  }

  /// Rounds to the nearest E5M2 value (ties to even). With `saturating` the input is clamped to
  /// ±57344 first; without it, overflow gives ±infinity (IEEE behaviour). NaN stays NaN.
  @inline(__always)
  public static func roundE5M2(_ x: Float, saturating: Bool = true) -> Float {
    if saturating { return MiniFloatSpec.e5m2.round(saturate(x, e5m2Max)) }
    if x.isInfinite { return x }
    let r = MiniFloatSpec.e5m2.round(x)
    return r.magnitude > e5m2Max ? (x < 0 ? -.infinity : .infinity) : r
  }

  /// Encodes `x` to an E4M3FN byte (RNE; saturating by default, else out of range gives NaN).
  public static func encodeE4M3(_ x: Float, saturating: Bool = true) -> UInt8 {
    let r = roundE4M3(x, saturating: saturating)
    let sign: UInt8 = r.sign == .minus ? 0x80 : 0
    if r.isNaN { return sign | 0x7F }
    let magBits = r.bitPattern & 0x7FFF_FFFF
    let e = Int(magBits >> 23)
    if e < 121 {  // below 2^-6: subnormal, value = m * 2^-9
      return sign | UInt8(r.magnitude * 512)
    }
    return sign | UInt8(((e - 120) << 3) | Int((magBits >> 20) & 7))
  }

  /// Decodes an E4M3FN byte (`0x7F`/`0xFF` are NaN).
  public static func decodeE4M3(_ code: UInt8) -> Float {
    let negative = code & 0x80 != 0
    let e = Int((code >> 3) & 0xF), m = Float(code & 7)
    let v: Float
    if e == 15 && code & 7 == 7 {
      v = .nan
    } else if e == 0 {
      v = m * 0x1p-9
    } else {
      v = Float(sign: .plus, exponent: e - 7, significand: 1 + m / 8)
    }
    return negative ? -v : v
  }

  /// Encodes `x` to an E5M2 byte (RNE; saturating by default, else overflow gives infinity).
  public static func encodeE5M2(_ x: Float, saturating: Bool = true) -> UInt8 {
    let r = roundE5M2(x, saturating: saturating)
    let sign: UInt8 = r.sign == .minus ? 0x80 : 0
    if r.isNaN { return sign | 0x7E }
    if r.isInfinite { return sign | 0x7C }
    let magBits = r.bitPattern & 0x7FFF_FFFF
    let e = Int(magBits >> 23)
    if e < 113 {  // below 2^-14: subnormal, value = m * 2^-16
      return sign | UInt8(r.magnitude * 65536)
    }
    return sign | UInt8(((e - 112) << 2) | Int((magBits >> 21) & 3))
  }

  /// Decodes an E5M2 byte (exponent 31: infinity when the mantissa is 0, else NaN).
  public static func decodeE5M2(_ code: UInt8) -> Float {
    let negative = code & 0x80 != 0
    let e = Int((code >> 2) & 0x1F), m = Float(code & 3)
    let v: Float
    if e == 31 {
      v = code & 3 == 0 ? .infinity : .nan
    } else if e == 0 {
      v = m * 0x1p-16
    } else {
      v = Float(sign: .plus, exponent: e - 15, significand: 1 + m / 4)
    }
    return negative ? -v : v
  }

  /// ModelOpt's FP8 scale for an amax: `fp32(fp32(1 / amax) * maxValue)` (PyTorch evaluates
  /// `448.0 / amax_tensor` as reciprocal-times-448, which differs from a true division for
  /// about a quarter of amax values).
  @inline(__always)
  public static func modelOptScale(amax: Float, maxValue: Float = 448) -> Float {
    (1 / amax) * maxValue
  }

  /// ModelOpt scaled FP8 fake quantization (`num_bits=(4,3)`; E5M2 uses the same recipe):
  /// `scale = fp32(fp32(1/amax) * max)`, `inv = fp32(1/scale)`,
  /// `out = fp8_rne(clamp(x * scale, ±max)) * inv`.
  ///
  /// When `amax <= 2^-24` (or amax is not finite and positive) the outputs are `±0`.
  /// - Parameters:
  ///   - format: ``NumberFormat/fp8E4M3`` or ``NumberFormat/fp8E5M2``.
  ///   - granularity: ``QuantGranularity/perTensor`` or ``QuantGranularity/perChannel(axis:)``
  ///     (per-block is accepted too).
  ///   - amax: one per group, or `nil` for dynamic `max|x|`.
  ///   - steMask: receives `1` where `|x| <= amax` (clipped STE).
  /// - Throws: ``QuantizationError`` for a non-FP8 format or bad shape/axis/buffers.
  public static func fakeQuantModelOpt(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], format: NumberFormat = .fp8E4M3,
    granularity: QuantGranularity = .perTensor, amax: UnsafeBufferPointer<Float>?,
    into out: UnsafeMutableBufferPointer<Float>, steMask: UnsafeMutableBufferPointer<UInt8>? = nil
  ) throws(QuantizationError) {
    let spec: MiniFloatSpec
    switch format {
    case .fp8E4M3: spec = .e4m3
    case .fp8E5M2: spec = .e5m2
    default:
      throw QuantizationError(.unsupportedFormat, "FP8.fakeQuantModelOpt needs fp8E4M3 or fp8E5M2, got \(format)")
    }
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: granularity)
    try checkCount(out.count, x.count, "output buffer")
    if let steMask { try checkCount(steMask.count, x.count, "STE mask buffer") }
    let amaxValues = try Amax.resolve(amax, for: x, layout: layout, granularity: granularity)
    let params = modelOptParams(amaxValues, maxValue: format.maxBound)
    runLaneKernel(
      ScaledMiniFloatKernel(spec: spec, limit: format.maxBound), x, out, mask: steMask, layout: layout,
      params: params)
  }

  /// `(scale, inverse, amax)` lane parameters; tiny/invalid amax gives `(0, 0, amax)` → `±0`.
  package static func modelOptParams(_ amax: [Float], maxValue: Float) -> LaneParams {
    var params = LaneParams(count: amax.count)
    for (p, a) in amax.enumerated() {
      if a > IntFakeQuant.minAmax && a.isFinite {
        let scale = modelOptScale(amax: a, maxValue: maxValue)
        params.set(p, scale, 1 / scale, a)
      } else {
        params.set(p, 0, 0, a)
      }
    }
    return params
  }
}

/// `a` = scale, `b` = inverse scale, `c` = amax; `out = round(clamp(x*a, ±limit)) * b`.
package struct ScaledMiniFloatKernel: LaneKernel {
  package let spec: MiniFloatSpec
  package let limit: Float
  @inline(__always)
  package func apply(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
    spec.round(saturate(x * a, limit)) * b
  }
  @inline(__always)
  package func keep(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMDMask<SIMD16<Int32>> {
    absVector(x) .<= c
  }
}
