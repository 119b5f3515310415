/// PyTorch `torch.fake_quantize_per_tensor_affine` / `fake_quantize_per_channel_affine`.
///
/// `q = rint(x * fp32(1/scale)) + zeroPoint`, `out = (clamp(q, quantMin, quantMax) - zeroPoint) * scale`.
/// The multiply uses the fp32 reciprocal of the scale, as ATen does. Zeros are `+0.0` (adding the
/// zero point turns `-0.0` into `+0.0`). The gradient mask is `quantMin <= q <= quantMax`
/// (values outside the range get zero gradient); torch applies it as `grad * mask`, so use
/// ``STE/MaskedZero/signed`` with it.
public enum TorchFakeQuant {
  /// Per-tensor affine fake quantization.
  /// - Parameter gradMask: if given, receives `1` where `quantMin <= q <= quantMax`, else `0`.
  /// - Throws: ``QuantizationError`` if `scale` is not positive and finite, `quantMin > quantMax`,
  ///   or the zero point lies outside `[quantMin, quantMax]`.
  public static func perTensorAffine(
    _ x: UnsafeBufferPointer<Float>, scale: Float, zeroPoint: Int, quantMin: Int, quantMax: Int,
    into out: UnsafeMutableBufferPointer<Float>, gradMask: UnsafeMutableBufferPointer<UInt8>? = nil
  ) throws(QuantizationError) {
    try perChannelAffine(
      x, shape: [x.count], axis: nil, scales: [scale], zeroPoints: [zeroPoint], quantMin: quantMin,
      quantMax: quantMax, into: out, gradMask: gradMask)
  }

  /// Per-channel affine fake quantization along `axis` (`nil` = one scale for the tensor).
  /// - Throws: ``QuantizationError`` for bad shapes, axes, scale/zero-point counts or values.
  public static func perChannelAffine(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], axis: Int?, scales: [Float], zeroPoints: [Int],
    quantMin: Int, quantMax: Int, into out: UnsafeMutableBufferPointer<Float>,
    gradMask: UnsafeMutableBufferPointer<UInt8>? = nil
  ) throws(QuantizationError) {
    try affine(
      x, shape: shape, granularity: axis.map { .perChannel(axis: $0) } ?? .perTensor, scales: scales,
      zeroPoints: zeroPoints, quantMin: quantMin, quantMax: quantMax, into: out, gradMask: gradMask)
  }

  /// Affine fake quantization with one scale and zero point per group of `granularity`: the
  /// tensor, a channel of an axis, or a block of the last axis (torchao's grouped asymmetric
  /// weights); per tensor and per channel it is exactly
  /// ``perChannelAffine(_:shape:axis:scales:zeroPoints:quantMin:quantMax:into:gradMask:)``.
  /// - Throws: ``QuantizationError`` for bad shapes, axes, block sizes, scale/zero-point counts
  ///   or values.
  public static func affine(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], granularity: QuantGranularity, scales: [Float], zeroPoints: [Int],
    quantMin: Int, quantMax: Int, into out: UnsafeMutableBufferPointer<Float>,
    gradMask: UnsafeMutableBufferPointer<UInt8>? = nil
  ) throws(QuantizationError) {
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: granularity)
    try checkCount(out.count, x.count, "output buffer")
    if let gradMask { try checkCount(gradMask.count, x.count, "gradient mask buffer") }
    let params = try affineParams(
      scales: scales, zeroPoints: zeroPoints, quantMin: quantMin, quantMax: quantMax, count: layout.paramCount)
    runLaneKernel(
      TorchAffineKernel(quantMin: Float(quantMin), quantMax: Float(quantMax)), x, out, mask: gradMask,
      layout: layout, params: params)
  }

  package static func affineParams(
    scales: [Float], zeroPoints: [Int], quantMin: Int, quantMax: Int, count: Int
  ) throws(QuantizationError) -> LaneParams {
    try checkCount(scales.count, count, "scales")
    try checkCount(zeroPoints.count, count, "zero points")
    guard quantMin <= quantMax, abs(quantMin) <= 1 << 24, abs(quantMax) <= 1 << 24 else {
      throw QuantizationError(.invalidParameter, "invalid quantization range [\(quantMin), \(quantMax)]")
    }
    var params = LaneParams(count: count)
    for p in 0..<count {
      let s = scales[p], zp = zeroPoints[p]
      guard s > 0, s.isFinite else {
        throw QuantizationError(.invalidParameter, "scale \(s) at index \(p) must be positive and finite")
      }
      guard zp >= quantMin, zp <= quantMax else {
        throw QuantizationError(.invalidParameter, "zero point \(zp) at index \(p) is outside [\(quantMin), \(quantMax)]")
      }
      params.set(p, 1 / s, s, Float(zp))
    }
    return params
  }
}

/// `a` = fp32(1/scale), `b` = scale, `c` = zero point.
package struct TorchAffineKernel: LaneKernel {
  package let quantMin: Float
  package let quantMax: Float
  @inline(__always)
  package func apply(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
    var q = Rounding.roundHalfEven(x * a) + c
    q = q.replacing(with: quantMax, where: q .> quantMax)
    q = q.replacing(with: quantMin, where: q .< quantMin)
    return (q - c) * b
  }
  @inline(__always)
  package func keep(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMDMask<SIMD16<Int32>> {
    let q = Rounding.roundHalfEven(x * a) + c
    return (q .>= quantMin) .& (q .<= quantMax)
  }
}
