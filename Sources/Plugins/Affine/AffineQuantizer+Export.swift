import QATKit

extension AffineQuantizer {
  /// The codes `clamp(rint(x · fp32(1/scale)) + zeroPoint, quantMin, quantMax)` of `input` with
  /// the scales and zero points of its groups; ``QuantizedTensor/dequantize()`` equals
  /// `self(input)`.
  ///
  /// - Throws: ``QuantizerError/exportUnsupported(_:)`` when the quantizer is disabled or its
  ///   granularity does not fit the tensor.
  public func export(_ input: Tensor) throws -> QuantizedTensor {
    guard isEnabled else { throw QuantizerError.exportUnsupported("the quantizer is disabled") }
    guard GroupLayout.fits(attributes.granularity, shape: input.shape) else {
      throw QuantizerError.exportUnsupported("\(attributes.granularity) does not fit a tensor of shape \(input.shape)")
    }
    let layout = GroupLayout(attributes.granularity, shape: input.shape)
    let (scales, zeroPoints) = currentParameters(for: input, layout: layout)
    var grid = [Float](repeating: 0, count: input.count)
    let (lo, hi) = (Float(quantMin), Float(quantMax))
    input.withUnsafeBufferPointer { x in
      var groups = layout.groups.makeIterator()
      for i in 0..<x.count {
        let g = groups.next()!
        let q = (x[i] * (1 / scales[g])).rounded(.toNearestOrEven) + Float(zeroPoints[g])
        grid[i] = Swift.min(Swift.max(q, lo), hi)
      }
    }
    let granularity: QuantGranularity
    switch attributes.granularity {
    case .perChannel(let axis): granularity = .perChannel(axis: axis < 0 ? axis + input.rank : axis)
    default: granularity = attributes.granularity
    }
    return QuantizedTensor(
      format: attributes.format, narrowRange: attributes.narrowRange, shape: input.shape, granularity: granularity,
      codes: QuantizedTensor.pack(grid, format: attributes.format), amax: [], amaxShape: layout.amaxShape, blockScaleCodes: [],
      affineScales: scales, zeroPoints: zeroPoints.map { Float($0) })
  }
}
