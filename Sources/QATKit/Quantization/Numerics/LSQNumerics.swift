/// Learned-step-size (LSQ) numerics for the LSQ plugins.
///
/// Two references are matched:
/// - ModelOpt `StaticBlockScaleQuantizer.enable_lsq()` on an INT block format (learnable
///   `amax_pre` / `amax_post` per block, clipping STE): `s = max(amax / maxBound, 1e-8)`,
///   `u = x / s_pre`, `c = clamp(rint(u), minBound, maxBound)`, `out = c * s_post`;
///   `dx = ((g * s_post) * [minBound <= u <= maxBound]) / s_pre` (this exact fp32 order);
///   `d amax_post = sum(g * c) / maxBound`; `d amax_pre = sum(g * s_post * mask * (-x / s_pre^2)) / maxBound`.
///   For a tied amax (classic LSQ) the one parameter receives the sum of both.
/// - `torch._fake_quantize_learnable_per_tensor_affine`: forward as
///   ``TorchFakeQuant/perTensorAffine(_:scale:zeroPoint:quantMin:quantMax:into:gradMask:)``;
///   `dx = g * [qmin <= q <= qmax]`; `d scale = sum(g * ((fq(x) - x) / s inside, qmin - zp below,
///   qmax - zp above))`; `d zeroPoint = sum(-s * g outside)`, both times `gradFactor`.
///
/// Reductions accumulate in Double (the references sum in fp32, so they agree to ~1e-6 relative).
/// These kernels are scalar loops: they run once per weight tensor per step.
public enum LSQNumerics {
  /// Lower clamp of the LSQ step size.
  public static let minStep: Float = 1e-8

  /// The LSQ step `max(amax / maxBound, 1e-8)` in fp32.
  @inline(__always)
  public static func step(amax: Float, maxBound: Float) -> Float {
    let s = amax / maxBound
    return s < minStep ? minStep : s
  }

  private static func validate(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], blockSize: Int, format: NumberFormat,
    amaxPre: UnsafeBufferPointer<Float>, amaxPost: UnsafeBufferPointer<Float>
  ) throws(QuantizationError) -> Int {
    guard format.isInteger else {
      throw QuantizationError(.unsupportedFormat, "LSQ block numerics need an integer format, got \(format)")
    }
    try format.validate()
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: .perBlock(size: blockSize))
    try checkCount(amaxPre.count, layout.paramCount, "amax_pre buffer")
    try checkCount(amaxPost.count, layout.paramCount, "amax_post buffer")
    return layout.paramCount
  }

  /// ModelOpt LSQ forward: `clamp(rint(x / s_pre), minBound, maxBound) * s_post` per block.
  /// `-0.0` is kept where a negative input rounds to zero (as in ModelOpt).
  /// - Parameter steMask: receives `1` where `minBound <= x / s_pre <= maxBound`.
  /// - Throws: ``QuantizationError`` for a bad format, shape, block size or buffer size.
  public static func modelOptForward(
    _ x: UnsafeBufferPointer<Float>, shape: [Int], blockSize: Int, format: NumberFormat,
    amaxPre: UnsafeBufferPointer<Float>, amaxPost: UnsafeBufferPointer<Float>,
    into out: UnsafeMutableBufferPointer<Float>, steMask: UnsafeMutableBufferPointer<UInt8>? = nil
  ) throws(QuantizationError) {
    let blocks = try validate(x, shape: shape, blockSize: blockSize, format: format, amaxPre: amaxPre, amaxPost: amaxPost)
    try checkCount(out.count, x.count, "output buffer")
    if let steMask { try checkCount(steMask.count, x.count, "STE mask buffer") }
    let lo = format.minBound, hi = format.maxBound
    for b in 0..<blocks {
      let sPre = step(amax: amaxPre[b], maxBound: hi), sPost = step(amax: amaxPost[b], maxBound: hi)
      let base = b &* blockSize
      for i in base..<(base &+ blockSize) {
        let u = x[i] / sPre
        let r = Rounding.roundHalfEven(u)
        out[i] = (r > hi ? hi : (r < lo ? lo : r)) * sPost
        if let steMask { steMask[i] = (u >= lo && u <= hi) ? 1 : 0 }
      }
    }
  }

  /// ModelOpt LSQ backward: writes `dx` (bitwise as ModelOpt) and, if given, the per-block
  /// gradients w.r.t. `amax_pre` and `amax_post` (sum them for a tied amax).
  /// - Throws: ``QuantizationError`` for a bad format, shape, block size or buffer size.
  public static func modelOptBackward(
    _ x: UnsafeBufferPointer<Float>, gradOutput: UnsafeBufferPointer<Float>, shape: [Int], blockSize: Int,
    format: NumberFormat, amaxPre: UnsafeBufferPointer<Float>, amaxPost: UnsafeBufferPointer<Float>,
    gradInput: UnsafeMutableBufferPointer<Float>, gradAmaxPre: UnsafeMutableBufferPointer<Float>? = nil,
    gradAmaxPost: UnsafeMutableBufferPointer<Float>? = nil
  ) throws(QuantizationError) {
    let blocks = try validate(x, shape: shape, blockSize: blockSize, format: format, amaxPre: amaxPre, amaxPost: amaxPost)
    try checkCount(gradOutput.count, x.count, "gradient output buffer")
    try checkCount(gradInput.count, x.count, "gradient input buffer")
    if let gradAmaxPre { try checkCount(gradAmaxPre.count, blocks, "amax_pre gradient buffer") }
    if let gradAmaxPost { try checkCount(gradAmaxPost.count, blocks, "amax_post gradient buffer") }
    let lo = format.minBound, hi = format.maxBound
    for b in 0..<blocks {
      let rawPre = amaxPre[b] / hi, rawPost = amaxPost[b] / hi
      let sPre = step(amax: amaxPre[b], maxBound: hi), sPost = step(amax: amaxPost[b], maxBound: hi)
      var accPre = 0.0, accPost = 0.0
      let base = b &* blockSize
      for i in base..<(base &+ blockSize) {
        let xi = x[i], g = gradOutput[i]
        let u = xi / sPre
        let m: Float = (u >= lo && u <= hi) ? 1 : 0
        let r = Rounding.roundHalfEven(u)
        let c = r > hi ? hi : (r < lo ? lo : r)
        let gu = (g * sPost) * m
        gradInput[i] = gu / sPre
        accPost += Double(g) * Double(c)
        accPre += Double(gu) * (-Double(xi) / (Double(sPre) * Double(sPre)))
      }
      gradAmaxPre?[b] = rawPre < minStep ? 0 : Float(accPre / Double(hi))
      gradAmaxPost?[b] = rawPost < minStep ? 0 : Float(accPost / Double(hi))
    }
  }

  /// torch LSQ forward (`_fake_quantize_learnable_per_tensor_affine`); `zeroPoint` is rounded
  /// half-to-even and clamped to the range, as torch does.
  /// - Throws: ``QuantizationError`` for a bad scale or range.
  public static func torchForward(
    _ x: UnsafeBufferPointer<Float>, scale: Float, zeroPoint: Float, quantMin: Int, quantMax: Int,
    into out: UnsafeMutableBufferPointer<Float>
  ) throws(QuantizationError) {
    try TorchFakeQuant.perTensorAffine(
      x, scale: scale, zeroPoint: torchZeroPoint(zeroPoint, quantMin, quantMax), quantMin: quantMin,
      quantMax: quantMax, into: out)
  }

  static func torchZeroPoint(_ zp: Float, _ qmin: Int, _ qmax: Int) -> Int {
    let r = Rounding.roundHalfEven(zp)
    guard r.isFinite else { return qmin }
    return min(max(Int(r), qmin), qmax)
  }

  /// torch LSQ backward: writes `dx = g * mask` and returns the scale and zero-point gradients.
  /// - Throws: ``QuantizationError`` for a bad scale, range or buffer size.
  public static func torchBackward(
    _ x: UnsafeBufferPointer<Float>, gradOutput: UnsafeBufferPointer<Float>, scale: Float, zeroPoint: Float,
    quantMin: Int, quantMax: Int, gradFactor: Float = 1, gradInput: UnsafeMutableBufferPointer<Float>
  ) throws(QuantizationError) -> (gradScale: Float, gradZeroPoint: Float) {
    try checkCount(gradOutput.count, x.count, "gradient output buffer")
    try checkCount(gradInput.count, x.count, "gradient input buffer")
    let zpi = torchZeroPoint(zeroPoint, quantMin, quantMax)
    _ = try TorchFakeQuant.affineParams(
      scales: [scale], zeroPoints: [zpi], quantMin: quantMin, quantMax: quantMax, count: 1)
    let inv = 1 / scale, zp = Float(zpi), qmin = Float(quantMin), qmax = Float(quantMax)
    var dScale = 0.0, dZero = 0.0
    for i in 0..<x.count {
      let xi = x[i], g = gradOutput[i]
      let q = Rounding.roundHalfEven(xi * inv) + zp
      if q < qmin {
        gradInput[i] = g * 0
        dScale += Double(g) * Double(qmin - zp)
        dZero -= Double(scale) * Double(g)
      } else if q > qmax {
        gradInput[i] = g * 0
        dScale += Double(g) * Double(qmax - zp)
        dZero -= Double(scale) * Double(g)
      } else {
        gradInput[i] = g
        let fq = (q - zp) * scale
        dScale += Double(g) * ((Double(fq) - Double(xi)) / Double(scale))
      }
    }
    return (Float(dScale) * gradFactor, Float(dZero) * gradFactor)
  }
}
