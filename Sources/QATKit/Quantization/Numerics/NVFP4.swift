/// NVFP4 fake quantization: E2M1 elements in blocks of 16 along the last axis, an E4M3 scale per
/// block, and an fp32 global scale `gs = globalAmax / (6 * 448)`.
///
/// Matches ModelOpt's CPU `NVFP4QTensor.quantize` → `dequantize` (v0.47) bit for bit:
/// per block, `t = blockAmax / fp32(6 * gs)` (an all-zero block gets `t = 1`), clamped to `[2^-9, 448]`; `sFP8 = e4m3_rne(t)`;
/// `s = sFP8 * gs`; `m = e2m1_rne(|x| / s)` (saturating at 6); `out = sign(x) * m * s`, with
/// `+0.0` for every zero (the ModelOpt lookup table has no `-0.0`).
///
/// Where the two ModelOpt references differ — a block with `blockAmax / (6 gs) < 2^-10`, which
/// underflows E4M3 — this follows `NVFP4QTensor` (the block scale is clamped to `2^-9 * gs`), not the
/// GPU Triton fake-quant kernel (which gets scale 0, replaces it by 1.0 and zeroes the block).
public enum NVFP4 {
  /// The NVFP4 block size.
  public static let blockSize = 16
  /// Smallest pre-cast block scale (`2^-9`, the smallest E4M3 subnormal).
  public static let minBlockScale: Float = 0x1p-9

  /// The global (per-tensor) scale `amax / 2688` in fp32.
  @inline(__always)
  public static func globalScale(amax: Float) -> Float { amax / (6 * 448) }

  /// Fake-quantizes `x` (row-major `shape`, blocks along the last axis) into `out`.
  ///
  /// - Parameters:
  ///   - globalAmax: the calibrated per-tensor amax; `nil` uses `max|x|` of this tensor. A
  ///     non-positive or non-finite global amax gives all-zero output.
  ///   - blockSize: elements per block (16 for NVFP4); must divide the last dimension.
  ///   - blockScales: if given (one per block), receives the E4M3 block scale as a float
  ///     (`sFP8`; the effective scale is `sFP8 * globalScale`).
  /// - Returns: the global scale `gs`.
  /// - Throws: ``QuantizationError`` for a bad shape, block size or buffer size.
  /// - Note: the gradient is pass-through (ModelOpt forces `pass_through_bwd=True` for dynamic blocks).
  @discardableResult
  public static func fakeQuant(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], globalAmax: Float? = nil, blockSize: Int = blockSize,
    into out: UnsafeMutableBufferPointer<Float>, blockScales: UnsafeMutableBufferPointer<Float>? = nil
  ) throws(QuantizationError) -> Float {
    try fakeQuant(
      x, shape: shape, globalAmax: globalAmax, blockSize: blockSize, into: out, blockScales: blockScales,
      streamingThreshold: StreamingStores.threshold)
  }

  /// ``fakeQuant(_:shape:globalAmax:blockSize:into:blockScales:)`` with streaming stores from
  /// `streamingThreshold` output bytes on (tests use 0 to cover that path on small tensors).
  @discardableResult
  package static func fakeQuant(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], globalAmax: Float?, blockSize: Int,
    into out: UnsafeMutableBufferPointer<Float>, blockScales: UnsafeMutableBufferPointer<Float>?, streamingThreshold: Int
  ) throws(QuantizationError) -> Float {
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: .perBlock(size: blockSize))
    try checkCount(out.count, x.count, "output buffer")
    if let blockScales { try checkCount(blockScales.count, layout.paramCount, "block scale buffer") }
    let amax = globalAmax ?? Amax.maxAbs(x)
    let n = x.count
    guard n > 0, x.baseAddress != nil, let ob = out.baseAddress else { return 0 }
    let gs = globalScale(amax: amax)
    guard amax > 0, amax.isFinite, gs > 0 else {
      ob.update(repeating: 0, count: n)
      if let blockScales { blockScales.update(repeating: 0) }
      return gs
    }
    // One pass: block amax -> E4M3 block scale -> elements, while the block is in registers.
    let rule = NVFP4BlockRule(gs: gs, denom: 6 * gs, blockScales: SendableBox(blockScales?.baseAddress))
    runBlockKernel(rule, x, out, blockSize: blockSize, streamingThreshold: streamingThreshold)
    return gs
  }
}

/// NVFP4's block scale: `t = blockAmax / (6 gs)` (`1` for an all-zero block), clamped to
/// `[2^-9, 448]`, rounded to E4M3; the lane parameter is the effective scale `sFP8 * gs`.
private struct NVFP4BlockRule: BlockScaleRule {
  let gs: Float
  let denom: Float
  let blockScales: SendableBox<UnsafeMutablePointer<Float>?>
  var kernel: NVFP4Kernel { NVFP4Kernel() }

  @inline(__always)
  func params(blockAmax: Float, block: Int) -> (a: Float, b: Float, c: Float) {
    var t = blockAmax / denom
    t = t == 0 ? 1 : (t < NVFP4.minBlockScale ? NVFP4.minBlockScale : (t > 448 ? 448 : t))
    let sFP8 = MiniFloatSpec.e4m3.round(t)
    blockScales.value?[block] = sFP8
    return (sFP8 * gs, 0, 0)
  }

  @inline(__always)
  func params(blockAmax: SIMD16<Float>, firstBlock: Int) -> (a: SIMD16<Float>, b: SIMD16<Float>, c: SIMD16<Float>) {
    var t = blockAmax / SIMD16<Float>(repeating: denom)
    let isZero = t .== SIMD16<Float>(repeating: 0)
    let lo = SIMD16<Float>(repeating: NVFP4.minBlockScale), hi = SIMD16<Float>(repeating: 448)
    t = laneSelect(t .< lo, lo, t)
    t = laneSelect(t .> hi, hi, t)
    t = laneSelect(isZero, SIMD16<Float>(repeating: 1), t)
    let sFP8 = MiniFloatSpec.e4m3.round(t)
    if let scales = blockScales.value { storeVector(sFP8, scales + firstBlock) }
    let zero = SIMD16<Float>(repeating: 0)
    return (sFP8 * SIMD16<Float>(repeating: gs), zero, zero)
  }
}

/// `a` = effective block scale `sFP8 * gs`.
private struct NVFP4Kernel: LaneKernel {
  @inline(__always)
  func apply(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
    nvfp4Element(x, a)
  }
  @inline(__always)
  func keep(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMDMask<SIMD16<Int32>> {
    SIMDMask(repeating: true)
  }
}

/// One NVFP4 lane group: `sign(x) * e2m1(|x| / s) * s`, `+0.0` where the magnitude rounds to 0.
///
/// Works on the signed quotient `d = x / s` (`-(|x| / s)` exactly for negative `x`), clamped to
/// `[-6, 6]`. There the E2M1 quantum is 0.5 for `|d| < 2`, 1 in `[2, 4)` and 2 from 4 on, and
/// `(d + C) - C` with `C = 1.5 * quantum * 2^23` is the exact round-to-nearest-even
/// ``MiniFloatSpec/round(_:)-(SIMD16<Float>)`` does, for both signs (the sum stays in `C`'s
/// binade). `C` is `max(1.5 * 2^22, 1.5 * 2^(exponent(d) + 22))`, built from the exponent bits with
/// integer operations (a NaN `d` gives a negative integer, hence the smallest `C`; NaN stays
/// NaN). A zero result is `C - C = +0.0` whatever the sign of `x`, as ModelOpt's table has it.
/// Every step is one zmm instruction; this kernel is compute-bound, so each one counts.
@inline(__always)
private func nvfp4Element(_ x: SIMD16<Float>, _ s: SIMD16<Float>) -> SIMD16<Float> {
  let d = x / s
  let six = SIMD16<Float>(repeating: 6), minusSix = SIMD16<Float>(repeating: -6)
  let dc = laneSelect(d .< minusSix, minusSix, laneSelect(d .> six, six, d))
  let bias = Int32(22 &<< 23) | 0x40_0000  // adds 22 to the exponent and sets the 0.5 mantissa bit
  let cUp = (unsafeBitCast(dc, to: SIMD16<Int32>.self) & 0x7F80_0000) &+ bias
  let c0 = SIMD16<Int32>(repeating: Int32(bitPattern: (0x1.8p22 as Float).bitPattern))
  let c = unsafeBitCast(laneSelect(cUp .> c0, cUp, c0), to: SIMD16<Float>.self)
  return ((dc + c) - c) * s
}
