extension TensorQuantizer {
  /// The codes and scales of `input` (times ``preQuantScale`` when set) under this
  /// quantizer's current range (static, or computed from the input when dynamic);
  /// ``QuantizedTensor/dequantize()`` equals `self(input)`.
  ///
  /// - Throws: ``QuantizerError/exportUnsupported(_:)`` when the quantizer is disabled or the
  ///   block size does not divide the last dimension.
  public func export(_ input: Tensor) throws -> QuantizedTensor {
    guard isEnabled else { throw QuantizerError.exportUnsupported("the quantizer is disabled") }
    if let p = preQuantScale, input.shape.last != p.count {
      throw QuantizerError.exportUnsupported("pre_quant_scale has \(p.count) factors, the tensor's last axis \(input.shape.last ?? 0)")
    }
    let x = Tensor.withoutGrad { scaledInput(input) }
    let shape = x.shape
    if let b = attributes.effectiveBlockSize, (shape.last ?? 1) % b != 0 {
      throw QuantizerError.exportUnsupported("block size \(b) does not divide the last dimension of \(shape)")
    }
    let l = layout(for: shape)
    let a = currentAmax(for: x, layout: l)
    let enc = QuantCodec.encode(
      x.storage, format: attributes.format, narrow: attributes.narrowRange, layout: l, amax: a,
      blockSize: attributes.effectiveBlockSize)
    let granularity: QuantGranularity
    switch attributes.granularity {
    case .perChannel(let axis): granularity = .perChannel(axis: axis < 0 ? axis + shape.count : axis)
    default: granularity = attributes.granularity
    }
    return QuantizedTensor(
      format: attributes.format, narrowRange: attributes.narrowRange, shape: shape, granularity: granularity,
      codes: QuantizedTensor.pack(enc.grid, format: attributes.format), amax: a,
      amaxShape: amaxGranularity == nil ? [] : l.amaxShape, blockScaleCodes: enc.blockScaleCodes)
  }
}
