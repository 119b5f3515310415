/// Exact round-to-nearest-even onto small floating-point grids (E4M3, E5M2, E2M1) using the
/// exponent bits of the fp32 input: the quantum for `|y|` in `[2^e, 2^(e+1))` is
/// `2^(max(e, minExp) - mantissaBits)`, and `(|y| + C) - C` with `C = quantum * 2^23` rounds
/// `|y|` to a multiple of the quantum in one correctly rounded fp32 addition. No table lookups.
package struct MiniFloatSpec: Sendable {
  /// Mantissa bits of the target format.
  package let mantissaBits: UInt32
  /// Exponent of the smallest normal (the subnormal quantum is `2^(minExp - mantissaBits)`).
  package let minExp: Int32
  /// Largest exponent considered (caps the magic constant for NaN/out-of-range input).
  package let maxExp: Int32

  package static var e4m3: MiniFloatSpec { MiniFloatSpec(mantissaBits: 3, minExp: -6, maxExp: 8) }
  package static var e5m2: MiniFloatSpec { MiniFloatSpec(mantissaBits: 2, minExp: -14, maxExp: 15) }
  package static var e2m1: MiniFloatSpec { MiniFloatSpec(mantissaBits: 1, minExp: 0, maxExp: 2) }

  /// Rounds `y` to the grid (no saturation); NaN stays NaN, the sign of zero is kept. Magnitudes
  /// above `2^(maxExp+1)` round at the top quantum, so callers clamp first.
  @inline(__always)
  package func round(_ y: Float) -> Float {
    let bits = y.bitPattern
    let magBits = bits & 0x7FFF_FFFF
    var e = Int32(bitPattern: magBits >> 23)
    e = min(max(e, 127 &+ minExp), 127 &+ maxExp)
    let c = Float(bitPattern: UInt32(e &+ 23 &- Int32(mantissaBits)) << 23)
    let r = (Float(bitPattern: magBits) + c) - c
    return Float(bitPattern: r.bitPattern | (bits & 0x8000_0000))
  }

  /// Lane-wise ``round(_:)-(Float)``.
  ///
  /// Written with integer min/max and bit operations only: the generic per-lane
  /// `replacing(with:where:)` compiles to split xmm pieces and mask moves on AVX-512.
  @inline(__always)
  package func round(_ y: SIMD16<Float>) -> SIMD16<Float> {
    let bits = unsafeBitCast(y, to: SIMD16<UInt32>.self)
    let magBits = bits & 0x7FFF_FFFF
    var e = unsafeBitCast(magBits &>> 23, to: SIMD16<Int32>.self)
    let lo = SIMD16<Int32>(repeating: 127 &+ minExp), hi = SIMD16<Int32>(repeating: 127 &+ maxExp)
    e = laneSelect(e .< lo, lo, e)
    e = laneSelect(e .> hi, hi, e)
    let cBits = unsafeBitCast((e &+ (23 &- Int32(mantissaBits))) &<< 23, to: SIMD16<UInt32>.self)
    let c = unsafeBitCast(cBits, to: SIMD16<Float>.self)
    let r = (unsafeBitCast(magBits, to: SIMD16<Float>.self) + c) - c
    return unsafeBitCast(unsafeBitCast(r, to: SIMD16<UInt32>.self) | (bits & 0x8000_0000), to: SIMD16<Float>.self)
  }
}

/// `mask ? a : b` per lane, with bit operations on the all-ones/all-zeros mask lanes. Same result
/// as `b.replacing(with: a, where: mask)`, but it stays one vector blend (the generic
/// `replacing(with:where:)` is a per-lane loop that LLVM re-vectorizes poorly for 16 lanes).
@inline(__always)
package func laneSelect(_ mask: SIMDMask<SIMD16<Int32>>, _ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
  let m = unsafeBitCast(mask, to: SIMD16<UInt32>.self)
  let ai = unsafeBitCast(a, to: SIMD16<UInt32>.self), bi = unsafeBitCast(b, to: SIMD16<UInt32>.self)
  return unsafeBitCast(bi ^ ((ai ^ bi) & m), to: SIMD16<Float>.self)
}

/// Integer ``laneSelect(_:_:_:)-(SIMDMask<SIMD16<Int32>>,SIMD16<Float>,SIMD16<Float>)``.
@inline(__always)
package func laneSelect(_ mask: SIMDMask<SIMD16<Int32>>, _ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
  let m = unsafeBitCast(mask, to: SIMD16<Int32>.self)
  return b ^ ((a ^ b) & m)
}

/// Clamps lanes to `[-limit, limit]` with compare-and-select (NaN passes through).
@inline(__always)
package func saturate(_ v: SIMD16<Float>, _ limit: Float) -> SIMD16<Float> {
  let hi = SIMD16<Float>(repeating: limit), lo = SIMD16<Float>(repeating: -limit)
  let r = laneSelect(v .> hi, hi, v)
  return laneSelect(r .< lo, lo, r)
}

/// Scalar ``saturate(_:_:)-(SIMD16<Float>,_)``.
@inline(__always)
package func saturate(_ v: Float, _ limit: Float) -> Float {
  v > limit ? limit : (v < -limit ? -limit : v)
}
