/// A tensor in its real quantized form: packed codes plus scales, as deployed.
///
/// Codes: integers of 5–8 bits one per byte (two's complement for signed), integers of
/// 2–4 bits and FP4 two per byte along the flat (last-axis) order, first element in the low
/// nibble (ModelOpt's packing); FP8 one E4M3 / E5M2 byte each. ``dequantize()`` reproduces
/// the quantizer's fake-quantized tensor exactly (up to the sign of zero): it evaluates the
/// same arithmetic (`q / (maxBound/amax)` for integers, `v · fp32(1/scale)` for FP8,
/// `m · (e4m3 · globalScale)` for NVFP4, `v · 2^e` for MX; `(q − zeroPoint) · scale` for
/// asymmetric integers, see ``isAffine``).
public struct QuantizedTensor: Sendable, Equatable {
  /// The element format.
  public let format: QuantFormat
  /// Integers: whether the most negative code is excluded.
  public let narrowRange: Bool
  /// The logical shape.
  public let shape: [Int]
  /// The granularity of the ranges (NVFP4 / MX: their blocks).
  public let granularity: QuantGranularity
  /// Packed codes.
  public let codes: [UInt8]
  /// Ranges: one per group (INT, FP8; shape ``amaxShape``), `[global]` (NVFP4), empty (MX).
  public let amax: [Float]
  /// The shape of ``amax``.
  public let amaxShape: [Int]
  /// NVFP4: E4M3 block-scale codes; MX: E8M0 exponent codes (`e + 127`); else empty. Shape
  /// ``blockScaleShape``.
  public let blockScaleCodes: [UInt8]
  /// Asymmetric (affine) integers: the scale of every group, `x ≈ (q − zeroPoint) · scale`
  /// (shape ``amaxShape``; ``amax`` is then empty). Empty for symmetric formats.
  public let affineScales: [Float]
  /// Asymmetric integers: the zero point of every group, an integer of the code range
  /// (shape ``amaxShape``). Empty for symmetric formats.
  public let zeroPoints: [Float]

  /// Creates a quantized tensor (normally through ``Quantizer/export(_:)``); `affineScales`
  /// and `zeroPoints` (both or neither) make it an asymmetric integer tensor.
  public init(
    format: QuantFormat, narrowRange: Bool, shape: [Int], granularity: QuantGranularity, codes: [UInt8],
    amax: [Float], amaxShape: [Int], blockScaleCodes: [UInt8], affineScales: [Float] = [], zeroPoints: [Float] = []
  ) {
    precondition(affineScales.count == zeroPoints.count, "QuantizedTensor: \(affineScales.count) scales, \(zeroPoints.count) zero points")
    self.format = format
    self.narrowRange = narrowRange
    self.shape = shape
    self.granularity = granularity
    self.codes = codes
    self.amax = amax
    self.amaxShape = amaxShape
    self.blockScaleCodes = blockScaleCodes
    self.affineScales = affineScales
    self.zeroPoints = zeroPoints
  }

  /// Whether the codes are asymmetric integers with zero points.
  public var isAffine: Bool { !zeroPoints.isEmpty }

  /// Number of elements.
  public var count: Int { shape.reduce(1, *) }

  /// Whether two codes share a byte (≤ 4-bit formats).
  public var isPacked: Bool { format.codeBits <= 4 }

  /// The shape of ``blockScaleCodes``: the logical shape with the last axis divided by the block size.
  public var blockScaleShape: [Int] {
    guard case .perBlock(let b) = granularity, format.isBlockScaled else { return [] }
    var s = shape
    if !s.isEmpty { s[s.count - 1] /= b }
    return s
  }

  /// ModelOpt's `weight_scale`: `amax / maxBound` per group (INT, FP8); NVFP4's decoded E4M3
  /// block scales; MX's `2^e` block scales.
  public var scales: [Float] {
    if isAffine { return affineScales }
    switch format {
    case .int, .e4m3, .e5m2: return amax.map { $0 / format.maxBound }
    case .nvfp4: return blockScaleCodes.map { Minifloat.decode(UInt32($0), Minifloat.e4m3fn) }
    case .mxfp4, .mxfp8: return blockScaleCodes.map { Float(sign: .plus, exponent: Int($0) - 127, significand: 1) }
    }
  }

  /// NVFP4's per-tensor scale `amax / (6·448)` (ModelOpt's `weight_scale_2`), else `nil`.
  public var globalScale: Float? { format == .nvfp4 ? (amax.first ?? 0) / 2688 : nil }

  /// The grid values (in the scaled domain) of every element.
  public func gridValues() -> [Float] {
    let n = count
    var out = [Float](repeating: 0, count: n)
    for i in 0..<n {
      let byte: UInt8 = isPacked ? (i & 1 == 0 ? codes[i / 2] & 0x0F : codes[i / 2] >> 4) : codes[i]
      switch format {
      case .int(let bits, let signed):
        if signed {
          let shift = 8 - bits
          out[i] = Float(Int8(bitPattern: byte << UInt8(shift)) >> Int8(shift))
        } else {
          out[i] = Float(byte)
        }
      case .e4m3, .mxfp8: out[i] = Minifloat.decode(UInt32(byte), Minifloat.e4m3fn)
      case .e5m2: out[i] = Minifloat.decode(UInt32(byte), Minifloat.e5m2)
      case .nvfp4, .mxfp4: out[i] = QuantCodec.e2m1Value(byte)
      }
    }
    return out
  }

  /// The dequantized tensor (equal to the quantizer's fake-quantized output).
  public func dequantize() -> Tensor {
    let grid = gridValues()
    if isAffine {
      // `(q − zeroPoint) · scale`, the arithmetic of `torch.fake_quantize_*_affine`.
      let layout = GroupLayout(granularity, shape: shape)
      var out = [Float](repeating: 0, count: grid.count)
      var groups = layout.groups.makeIterator()
      for i in grid.indices {
        let g = groups.next()!
        out[i] = (grid[i] - zeroPoints[g]) * affineScales[g]
      }
      return Tensor(shape: shape, storage: out)
    }
    let layout = GroupLayout(amaxLayoutGranularity, shape: shape)
    let factors: [Float]
    var block: Int? = nil
    switch format {
    case .int: factors = amax.map { format.maxBound / $0 }
    case .e4m3, .e5m2:
      factors = amax.map { a in a > QuantCodec.tinyAmax ? 1 / ((1 / a) * format.maxBound) : 0 }
    case .nvfp4:
      let gs = globalScale ?? 0
      factors = blockScaleCodes.map { Minifloat.decode(UInt32($0), Minifloat.e4m3fn) * gs }
      if case .perBlock(let b) = granularity { block = b }
    case .mxfp4, .mxfp8:
      factors = scales
      if case .perBlock(let b) = granularity { block = b }
    }
    return Tensor(
      shape: shape, storage: QuantCodec.decode(grid, factors: factors, format: format, layout: layout, blockSize: block))
  }

  private var amaxLayoutGranularity: QuantGranularity { format.isBlockScaled ? .perTensor : granularity }

  /// Packs grid values into codes.
  package static func pack(_ grid: [Float], format: QuantFormat) -> [UInt8] {
    func code(_ v: Float) -> UInt8 {
      switch format {
      case .int(let bits, let signed):
        let q = Int(v)
        return signed ? UInt8(truncatingIfNeeded: q) & UInt8(truncatingIfNeeded: (1 << bits) - 1) : UInt8(q)
      case .e4m3, .mxfp8: return UInt8(Minifloat.encode(v, Minifloat.e4m3fn))
      case .e5m2: return UInt8(Minifloat.encode(v, Minifloat.e5m2))
      case .nvfp4: return QuantCodec.e2m1Code(v, signedZero: true)
      case .mxfp4: return QuantCodec.e2m1Code(v)
      }
    }
    if format.codeBits > 4 {
      if case .int(_, true) = format { return grid.map { UInt8(bitPattern: Int8(Int($0))) } }
      return grid.map(code)
    }
    var out = [UInt8](repeating: 0, count: (grid.count + 1) / 2)
    for i in grid.indices {
      let c = code(grid[i]) & 0x0F
      out[i / 2] |= i & 1 == 0 ? c : c << 4
    }
    return out
  }
}
