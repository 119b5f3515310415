/// Scalar encoders for export and calibration search (the forward pass uses the SIMD kernels
/// in `Numerics/`, which produce the same values). Every format is expressed as *encode* (values → grid values in the scaled domain plus one dequantization
/// factor per group or block) and *decode* (grid × factor, or grid ÷ factor for integers, as
/// ModelOpt divides by `maxbound/amax`); fake quantization is decode(encode(x)), so exported
/// codes dequantize to exactly the fake-quantized values.
package enum QuantCodec {
  /// Ranges at or below 2^-24 quantize everything to 0 (ModelOpt).
  package static let tinyAmax: Float = 1.0 / 16_777_216

  /// The result of encoding: grid values, and the per-group (INT, FP8) or per-block
  /// (NVFP4, MX) factors. `blockScaleCodes` holds NVFP4's E4M3 block-scale codes or MX's
  /// E8M0 exponents.
  package struct Encoded {
    package var grid: [Float]
    package var factors: [Float]
    package var blockScaleCodes: [UInt8]
  }

  // MARK: Element rounding

  /// Round to nearest even on the E4M3 (FN) grid, saturating at ±448.
  @inline(__always) package static func e4m3(_ v: Float) -> Float {
    let c = Swift.min(Swift.max(v, -448), 448)
    return Minifloat.decode(Minifloat.encode(c, Minifloat.e4m3fn), Minifloat.e4m3fn)
  }

  /// Round to nearest even on the E5M2 grid, saturating at ±57344.
  @inline(__always) package static func e5m2(_ v: Float) -> Float {
    let c = Swift.min(Swift.max(v, -57344), 57344)
    return Minifloat.decode(Minifloat.encode(c, Minifloat.e5m2), Minifloat.e5m2)
  }

  /// Round a magnitude to E2M1 {0, .5, 1, 1.5, 2, 3, 4, 6}, ties to even mantissa, saturating.
  @inline(__always) package static func e2m1Magnitude(_ a: Float) -> Float {
    if a <= 0.25 { return 0 }
    if a < 0.75 { return 0.5 }
    if a <= 1.25 { return 1 }
    if a < 1.75 { return 1.5 }
    if a <= 2.5 { return 2 }
    if a < 3.5 { return 3 }
    if a <= 5 { return 4 }
    return 6
  }

  /// Signed E2M1 rounding.
  @inline(__always) package static func e2m1(_ v: Float) -> Float {
    let m = e2m1Magnitude(Swift.abs(v))
    return v < 0 ? -m : m
  }

  /// The 4-bit code of an E2M1 value (sign in bit 3). With `signedZero`, `-0.0` (a negative
  /// value that rounded to 0) keeps the sign bit, as ModelOpt's `NVFP4QTensor` encodes it.
  package static func e2m1Code(_ v: Float, signedZero: Bool = false) -> UInt8 {
    let table: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    let m = Swift.abs(v)
    let idx = UInt8(table.firstIndex(of: m) ?? 0)
    return (v.sign == .minus && (m != 0 || signedZero) ? 8 : 0) | idx
  }

  /// The value of a 4-bit E2M1 code; both zero codes give `+0.0` (ModelOpt's table).
  package static func e2m1Value(_ code: UInt8) -> Float {
    let table: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    let m = table[Int(code & 7)]
    return code & 8 != 0 && m != 0 ? -m : m
  }

  /// Integer bounds: `(minBound, maxBound)`.
  package static func intBounds(bits: Int, signed: Bool, narrow: Bool) -> (Float, Float) {
    let maxB = Float((1 << (bits - (signed ? 1 : 0))) - 1)
    let minB: Float = !signed ? 0 : (narrow ? -maxB : -maxB - 1)
    return (minB, maxB)
  }

  // MARK: Encode / decode

  /// Encodes `x` with one range per group of `layout` (INT, FP8) or one global range
  /// (`amax.count == 1`, NVFP4) and blocks of `blockSize` (NVFP4, MX).
  package static func encode(
    _ x: [Float], format: QuantFormat, narrow: Bool, layout: GroupLayout, amax: [Float], blockSize: Int?
  ) -> Encoded {
    let n = x.count
    var grid = [Float](repeating: 0, count: n)
    switch format {
    case .int(let bits, let signed):
      let (lo, hi) = intBounds(bits: bits, signed: signed, narrow: narrow)
      let scales = amax.map { hi / $0 }
      x.withUnsafeBufferPointer { v in
        grid.withUnsafeMutableBufferPointer { g in
          for i in 0..<n {
            let gi = layout.group(i)
            guard amax[gi] > tinyAmax else { continue }
            let q = (v[i] * scales[gi]).rounded(.toNearestOrEven)
            g[i] = Swift.min(Swift.max(q, lo), hi)
          }
        }
      }
      return Encoded(grid: grid, factors: scales, blockScaleCodes: [])
    case .e4m3, .e5m2:
      let maxB = format.maxBound
      let scales = amax.map { (1 / $0) * maxB }
      let inv = zip(amax, scales).map { $0 > tinyAmax ? 1 / $1 : 0 }
      let isE4M3 = format == .e4m3
      for i in 0..<n {
        let gi = layout.group(i)
        guard amax[gi] > tinyAmax else { continue }
        let c = Swift.min(Swift.max(x[i] * scales[gi], -maxB), maxB)
        grid[i] = isE4M3 ? e4m3(c) : e5m2(c)
      }
      return Encoded(grid: grid, factors: inv, blockScaleCodes: [])
    case .nvfp4:
      let b = blockSize ?? 16
      let blocks = n / b
      let gs = (amax.first ?? 0) / 2688
      var factors = [Float](repeating: 0, count: blocks)
      var codes = [UInt8](repeating: 0, count: blocks)
      guard gs > 0, (amax.first ?? 0) > tinyAmax else {
        return Encoded(grid: grid, factors: factors, blockScaleCodes: codes)
      }
      let six = 6 * gs
      for k in 0..<blocks {
        var bm: Float = 0
        for j in 0..<b where x[k * b + j].isFinite { bm = Swift.max(bm, Swift.abs(x[k * b + j])) }
        guard bm > 0 else {
          // An all-zero block: ModelOpt's NVFP4QTensor writes block scale 1.0 (its codes are 0).
          codes[k] = 0x38
          factors[k] = gs
          continue
        }
        let pre = Swift.max(Swift.min(bm / six, 448), 1.0 / 512)
        let code = UInt8(Minifloat.encode(pre, Minifloat.e4m3fn))
        let s = Minifloat.decode(UInt32(code), Minifloat.e4m3fn) * gs
        codes[k] = code
        factors[k] = s
        guard s > 0 else { continue }
        for j in 0..<b {
          let v = x[k * b + j]
          grid[k * b + j] = e2m1(v / s)
        }
      }
      return Encoded(grid: grid, factors: factors, blockScaleCodes: codes)
    case .mxfp4, .mxfp8:
      let b = blockSize ?? 32
      let blocks = n / b
      let dmax = format == .mxfp4 ? Float(6) : Float(448)
      var factors = [Float](repeating: 0, count: blocks)
      var codes = [UInt8](repeating: 0, count: blocks)
      for k in 0..<blocks {
        var bm: Float = 0
        for j in 0..<b where x[k * b + j].isFinite { bm = Swift.max(bm, Swift.abs(x[k * b + j])) }
        let e: Int
        if bm > 0 {
          e = Swift.min(Swift.max(Int((bm / dmax).log2Ceiling), -127), 127)
        } else {
          e = -127
        }
        codes[k] = UInt8(e + 127)
        let unscale = Float(sign: .plus, exponent: e, significand: 1)
        factors[k] = unscale
        for j in 0..<b {
          let v = x[k * b + j] / unscale
          grid[k * b + j] = format == .mxfp4 ? e2m1(v) : e4m3(v)
        }
      }
      return Encoded(grid: grid, factors: factors, blockScaleCodes: codes)
    }
  }

  /// Dequantizes grid values: `grid / factor` for integers, `grid × factor` otherwise.
  package static func decode(
    _ grid: [Float], factors: [Float], format: QuantFormat, layout: GroupLayout, blockSize: Int?
  ) -> [Float] {
    var out = [Float](repeating: 0, count: grid.count)
    switch format {
    case .int:
      for i in grid.indices {
        let f = factors[layout.group(i)]
        out[i] = grid[i] / f
      }
    case .e4m3, .e5m2:
      for i in grid.indices { out[i] = grid[i] * factors[layout.group(i)] }
    case .nvfp4, .mxfp4, .mxfp8:
      let b = blockSize ?? format.defaultBlockSize ?? 16
      for i in grid.indices { out[i] = grid[i] * factors[i / b] }
    }
    return out
  }

  /// `decode(encode(x))`.
  package static func fakeQuantize(
    _ x: [Float], format: QuantFormat, narrow: Bool, layout: GroupLayout, amax: [Float], blockSize: Int?
  ) -> [Float] {
    let e = encode(x, format: format, narrow: narrow, layout: layout, amax: amax, blockSize: blockSize)
    return decode(e.grid, factors: e.factors, format: format, layout: layout, blockSize: blockSize)
  }
}

extension Float {
  /// `ceil(log2(self))` for positive finite values, exactly (no libm rounding).
  fileprivate var log2Ceiling: Int {
    let e = Int(exponent)
    return significand == 1 ? e : e + 1
  }
}
