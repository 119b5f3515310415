/// OCP microscaling (MX) formats: blocks of 32 along the last axis sharing a power-of-two E8M0
/// scale, with ModelOpt's "NV" scale rule `2^clamp(ceil(log2(blockAmax / elementMax)), -127, 127)`.
///
/// `out = elem_rne(clamp(x / scale, ±elementMax)) * scale`. The ceiling of log2 is computed
/// exactly from the fp32 bits of `blockAmax / elementMax` (an exact power of two maps to its own
/// exponent); an all-zero block gets exponent -127 and outputs zeros. Signs of zero follow IEEE
/// arithmetic (negative inputs that round to zero give `-0.0`). MX formats have no per-tensor
/// amax, so their gradient is pass-through.
public enum MXFormat: String, Hashable, Sendable, Codable, CaseIterable {
  /// MXFP4: E2M1 elements (max 6).
  case mxfp4
  /// MXFP8: E4M3 elements (max 448).
  case mxfp8
  /// MXFP8 with E5M2 elements (max 57344).
  case mxfp8E5M2

  /// The default MX block size.
  public static let defaultBlockSize = 32

  /// The element format.
  public var elementFormat: NumberFormat {
    switch self {
    case .mxfp4: return .fp4E2M1
    case .mxfp8: return .fp8E4M3
    case .mxfp8E5M2: return .fp8E5M2
    }
  }

  /// The element format's largest value (`dmax`).
  public var elementMax: Float { elementFormat.maxBound }

  var spec: MiniFloatSpec {
    switch self {
    case .mxfp4: return .e2m1
    case .mxfp8: return .e4m3
    case .mxfp8E5M2: return .e5m2
    }
  }

  /// The shared exponent `clamp(ceil(log2(amax / elementMax)), -127, 127)`, computed exactly.
  /// Zero (or NaN) amax gives -127; infinite amax gives 127.
  public static func sharedExponent(amax: Float, elementMax: Float) -> Int {
    let v = amax / elementMax
    guard v > 0 else { return -127 }
    guard v.isFinite else { return 127 }
    // v is positive and finite: read the exponent and mantissa fields (subnormals normalized).
    let bits = v.bitPattern
    var e: Int
    var mantissa = bits & 0x7F_FFFF
    if bits >> 23 == 0 {
      let shift = mantissa.leadingZeroBitCount - 8
      e = -126 - shift
      mantissa = (mantissa << UInt32(shift)) & 0x7F_FFFF
    } else {
      e = Int(bits >> 23) - 127
    }
    if mantissa != 0 { e += 1 }
    return min(max(e, -127), 127)
  }

  /// Fake-quantizes `x` (row-major `shape`, blocks along the last axis) into `out`.
  /// - Parameters:
  ///   - blockSize: elements per block (32 by default); must divide the last dimension.
  ///   - scaleCodes: if given (one per block), receives the E8M0 code `exponent + 127`.
  /// - Throws: ``QuantizationError`` for a bad shape, block size or buffer size.
  public func fakeQuant(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], blockSize: Int = MXFormat.defaultBlockSize,
    into out: UnsafeMutableBufferPointer<Float>, scaleCodes: UnsafeMutableBufferPointer<UInt8>? = nil
  ) throws(QuantizationError) {
    try fakeQuant(
      x, shape: shape, blockSize: blockSize, into: out, scaleCodes: scaleCodes,
      streamingThreshold: StreamingStores.threshold)
  }

  /// ``fakeQuant(_:shape:blockSize:into:scaleCodes:)`` with streaming stores from
  /// `streamingThreshold` output bytes on (tests use 0 to cover that path on small tensors).
  package func fakeQuant(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], blockSize: Int, into out: UnsafeMutableBufferPointer<Float>,
    scaleCodes: UnsafeMutableBufferPointer<UInt8>?, streamingThreshold: Int
  ) throws(QuantizationError) {
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: .perBlock(size: blockSize))
    try checkCount(out.count, x.count, "output buffer")
    if let scaleCodes { try checkCount(scaleCodes.count, layout.paramCount, "scale code buffer") }
    // One pass: block amax -> shared exponent -> elements, while the block is in registers.
    let codes = SendableBox(scaleCodes?.baseAddress)
    if self == .mxfp4 {
      let rule = MXBlockRule(kernel: MXE2M1Kernel(), elementMax: elementMax, scaleCodes: codes)
      runBlockKernel(rule, x, out, blockSize: blockSize, streamingThreshold: streamingThreshold)
    } else {
      let rule = MXBlockRule(
        kernel: ScaledMiniFloatKernel(spec: spec, limit: elementMax), elementMax: elementMax, scaleCodes: codes)
      runBlockKernel(rule, x, out, blockSize: blockSize, streamingThreshold: streamingThreshold)
    }
  }
}

/// MX block scale: lane parameters `(2^-e, 2^e, 0)` for the shared exponent `e` of the block;
/// records the E8M0 code `e + 127`.
private struct MXBlockRule<Kernel: LaneKernel>: BlockScaleRule {
  let kernel: Kernel
  let elementMax: Float
  let scaleCodes: SendableBox<UnsafeMutablePointer<UInt8>?>

  @inline(__always)
  func params(blockAmax: Float, block: Int) -> (a: Float, b: Float, c: Float) {
    let e = MXFormat.sharedExponent(amax: blockAmax, elementMax: elementMax)
    scaleCodes.value?[block] = UInt8(e + 127)
    return (exactPowerOfTwo(-e), exactPowerOfTwo(e), 0)
  }

  /// Lane-wise ``MXFormat/sharedExponent(amax:elementMax:)``: for `v = amax / elementMax` with
  /// exponent field `E` and mantissa `m`, `ceil(log2 v) = E - 127 + (m != 0)` for normal `v`
  /// (infinity gives 128, clamped to 127); a subnormal `v` has `ceil(log2 v) <= -126`, and is
  /// `-126` exactly when `v > 2^-127` (`m > 2^22`), else `-127`. `v <= 0` (or NaN) gives `-127`.
  @inline(__always)
  func params(blockAmax: SIMD16<Float>, firstBlock: Int) -> (a: SIMD16<Float>, b: SIMD16<Float>, c: SIMD16<Float>) {
    let v = blockAmax / SIMD16<Float>(repeating: elementMax)
    let bits = unsafeBitCast(v, to: SIMD16<Int32>.self)
    let field = (bits &>> 23) & 0xFF, mantissa = bits & 0x7F_FFFF
    let zeroI = SIMD16<Int32>(repeating: 0), one = SIMD16<Int32>(repeating: 1)
    let normalUp = laneSelect(mantissa .!= zeroI, one, zeroI)
    let subnormalUp = laneSelect(mantissa .> SIMD16<Int32>(repeating: 0x40_0000), one, zeroI)
    var e = field &- 127 &+ laneSelect(field .== zeroI, subnormalUp, normalUp)
    let top = SIMD16<Int32>(repeating: 127), bottom = SIMD16<Int32>(repeating: -127)
    e = laneSelect(e .> top, top, e)
    e = laneSelect(v .> SIMD16<Float>(repeating: 0), e, bottom)
    if let codes = scaleCodes.value {
      UnsafeMutableRawPointer(codes + firstBlock).storeBytes(
        of: SIMD16<UInt8>(truncatingIfNeeded: e &+ 127), as: SIMD16<UInt8>.self)
    }
    return (mxPowerOfTwo(zeroI &- e), mxPowerOfTwo(e), SIMD16<Float>(repeating: 0))
  }
}

/// Lane-wise ``exactPowerOfTwo(_:)`` for exponents in `-127...127` (`2^-127` is the subnormal
/// `0x0040_0000`).
@inline(__always)
private func mxPowerOfTwo(_ e: SIMD16<Int32>) -> SIMD16<Float> {
  let normal = (e &+ 127) &<< 23
  let bits = laneSelect(e .== SIMD16<Int32>(repeating: -127), SIMD16<Int32>(repeating: 0x40_0000), normal)
  return unsafeBitCast(bits, to: SIMD16<Float>.self)
}

/// The MXFP4 element kernel: `a = 2^-e`, `b = 2^e`. Same values as ``ScaledMiniFloatKernel`` with
/// the E2M1 spec (bit for bit, tested against the reference kernels), in fewer instructions: the
/// scaled value `d = x · 2^-e` is exact, and on `[-6, 6]` round-to-nearest-even on the E2M1 grid
/// is `(d + C) - C` with `C = max(1.5 · 2^22, 1.5 · 2^(exponent(d) + 22))` — the NVFP4 kernel's
/// rounding. MX keeps the sign of a zero result (the reference ORs the input's sign bit back in),
/// so the sign bit of `x` is ORed into the rounded value (a no-op for non-zero results).
private struct MXE2M1Kernel: LaneKernel {
  @inline(__always)
  func apply(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
    let d = saturate(x * a, 6)
    let bias = Int32(22 &<< 23) | 0x40_0000  // adds 22 to the exponent and sets the 0.5 mantissa bit
    let cUp = (unsafeBitCast(d, to: SIMD16<Int32>.self) & 0x7F80_0000) &+ bias
    let c0 = SIMD16<Int32>(repeating: Int32(bitPattern: (0x1.8p22 as Float).bitPattern))
    let magic = unsafeBitCast(laneSelect(cUp .> c0, cUp, c0), to: SIMD16<Float>.self)
    let r = unsafeBitCast((d + magic) - magic, to: SIMD16<UInt32>.self)
    let sign = unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x8000_0000
    return unsafeBitCast(r | sign, to: SIMD16<Float>.self) * b
  }
  @inline(__always)
  func keep(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMDMask<SIMD16<Int32>> {
    SIMDMask(repeating: true)
  }
}
