/// Integer fake quantization with NVIDIA ModelOpt `TensorQuantizer` semantics.
///
/// `scale = maxBound / amax` (fp32), `q = clamp(rint(x * scale), minBound, maxBound)`,
/// `out = q / scale` (a true fp32 division, not a multiply by `amax / maxBound`). When
/// `amax <= 2^-24` the scale used for the multiply is 0 and the divisor is 1, so the output is
/// `±0` (negative inputs give `-0.0`, as in ModelOpt). Negative inputs that round to zero give
/// `-0.0` everywhere, also as in ModelOpt.
public enum IntFakeQuant {
  /// The threshold at or below which amax is treated as zero (`2^-24`).
  public static let minAmax: Float = 0x1p-24

  /// Fake-quantizes `x` (row-major, `shape`) into `out` in one sweep.
  ///
  /// - Parameters:
  ///   - format: an ``NumberFormat/int(bits:signed:narrowRange:)`` format.
  ///   - granularity: per tensor, per channel on any axis, or per block along the last axis.
  ///   - amax: one value per tensor/channel/block; `nil` uses the dynamic `max|x|` per group.
  ///   - steMask: if given, receives `1` where `|x| <= amax` (ModelOpt's clipped STE,
  ///     `pass_through_bwd=False`) and `0` elsewhere; apply it with ``STE``.
  /// - Throws: ``QuantizationError`` for a bad format, shape, axis, block size or buffer size.
  public static func modelOpt(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], format: NumberFormat,
    granularity: QuantGranularity = .perTensor, amax: UnsafeBufferPointer<Float>?,
    into out: UnsafeMutableBufferPointer<Float>, steMask: UnsafeMutableBufferPointer<UInt8>? = nil
  ) throws(QuantizationError) {
    guard format.isInteger else {
      throw QuantizationError(.unsupportedFormat, "IntFakeQuant.modelOpt needs an integer format, got \(format)")
    }
    try format.validate()
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: granularity)
    try checkCount(out.count, x.count, "output buffer")
    if let steMask { try checkCount(steMask.count, x.count, "STE mask buffer") }
    let amaxValues = try Amax.resolve(amax, for: x, layout: layout, granularity: granularity)
    let params = modelOptParams(amaxValues, maxBound: format.maxBound)
    let kernel = ModelOptIntKernel(minBound: format.minBound, maxBound: format.maxBound)
    runLaneKernel(kernel, x, out, mask: steMask, layout: layout, params: params)
  }

  /// The `(scale, divisor, amax)` lane parameters for each amax.
  package static func modelOptParams(_ amax: [Float], maxBound: Float) -> LaneParams {
    var params = LaneParams(count: amax.count)
    for (p, a) in amax.enumerated() {
      let scale = maxBound / a
      if a <= minAmax {
        params.set(p, 0, 1, a)
      } else {
        params.set(p, scale, scale, a)
      }
    }
    return params
  }
}

/// `a` = multiply scale, `b` = divisor, `c` = amax (for the clipped-STE mask).
package struct ModelOptIntKernel: LaneKernel {
  package let minBound: Float
  package let maxBound: Float
  @inline(__always)
  package func apply(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
    var q = Rounding.roundHalfEven(x * a)
    q = q.replacing(with: maxBound, where: q .> maxBound)
    q = q.replacing(with: minBound, where: q .< minBound)
    return q / b
  }
  @inline(__always)
  package func keep(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMDMask<SIMD16<Int32>> {
    absVector(x) .<= c
  }
}
