/// Straight-through-estimator backward helpers.
///
/// The fused forward kernels write a `UInt8` mask (`1` = keep the gradient) in the same sweep as
/// the output; the backward pass then costs one sweep over `gradOutput` and the mask.
public enum STE {
  /// How masked-out gradients are zeroed.
  public enum MaskedZero: Sendable, Hashable {
    /// `torch.where(mask, g, 0)`: masked lanes are `+0.0` (ModelOpt `pass_through_bwd=False`).
    case positive
    /// `g * Float(mask)`: masked lanes are `-0.0` for negative `g` (NaN for non-finite `g`), as in
    /// `torch.fake_quantize_*` and the torch LSQ op.
    case signed
  }

  /// Pass-through STE (ModelOpt default `pass_through_bwd=True`): copies `gradOutput`.
  /// - Throws: ``QuantizationError/Kind/bufferSizeMismatch`` if the counts differ.
  public static func passThrough(
    _ gradOutput: UnsafeBufferPointer<Float>, into gradInput: UnsafeMutableBufferPointer<Float>
  ) throws(QuantizationError) {
    try checkCount(gradInput.count, gradOutput.count, "gradient input buffer")
    guard let src = gradOutput.baseAddress, let dst = gradInput.baseAddress, src != dst else { return }
    dst.update(from: src, count: gradOutput.count)
  }

  /// Clipped STE: `gradInput = mask ? gradOutput : 0` in one sweep.
  /// - Throws: ``QuantizationError/Kind/bufferSizeMismatch`` if the counts differ.
  public static func applyMask(
    _ gradOutput: UnsafeBufferPointer<Float>, mask: UnsafeBufferPointer<UInt8>,
    into gradInput: UnsafeMutableBufferPointer<Float>, maskedZero: MaskedZero = .positive
  ) throws(QuantizationError) {
    let n = gradOutput.count
    try checkCount(mask.count, n, "mask buffer")
    try checkCount(gradInput.count, n, "gradient input buffer")
    guard n > 0, let g = gradOutput.baseAddress, let m = mask.baseAddress, let o = gradInput.baseAddress else { return }
    let gs = SendableBox(g), ms = SendableBox(m), os = SendableBox(o)
    let signed = maskedZero == .signed
    parallelChunks(total: n, grain: kernelGrain) { r in
      let g = gs.value, m = ms.value, o = os.value
      // Plain select loops: LLVM vectorizes the byte-to-lane widening and the select.
      if signed {
        for i in r { o[i] = g[i] * (m[i] != 0 ? 1 : 0) }
      } else {
        for i in r { o[i] = m[i] != 0 ? g[i] : 0 }
      }
    }
  }
}

extension Tensor {
  /// This tensor (the output of a fake-quantization kernel that wrote `mask` in its forward
  /// sweep) recorded as a clipped straight-through estimator of `input`: the backward pass is
  /// `∂L/∂input = mask ? ∂L/∂out : 0` (``STE/applyMask(_:mask:into:maskedZero:)``).
  ///
  /// Quantizers share it so that every clipped STE records the same way.
  ///
  /// - Parameters:
  ///   - name: The autodiff node's name (`"fake_quant_clipped_ste"`).
  ///   - input: The quantizer's input, the node's only input.
  ///   - mask: One byte per element, `1` = keep the gradient; as many as this tensor has.
  ///   - maskedZero: How masked-out gradients are zeroed (``STE/MaskedZero``).
  public func recordingClippedSTE(
    _ name: String, input: Tensor, mask: [UInt8], maskedZero: STE.MaskedZero = .positive
  ) -> Tensor {
    precondition(mask.count == count, "\(name): \(mask.count) mask bytes for \(count) elements")
    return recording(name, inputs: [input]) { g in
      let gi = [Float](unsafeUninitializedCapacity: g.count) { ob, n in
        g.storage.withUnsafeBufferPointer { gb in
          mask.withUnsafeBufferPointer { mb in
            do { try STE.applyMask(gb, mask: mb, into: ob, maskedZero: maskedZero) } catch { preconditionFailure("\(name): \(error)") }
          }
        }
        n = g.count
      }
      return [Tensor(shape: g.shape, storage: gi)]
    }
  }
}
