internal import CQATKitKernels

extension Linear {
  /// How a quantized ``Linear`` computes its forward product `Q(x)·Q(W)ᵀ`.
  ///
  /// When the input quantizer is the static INT8 per-tensor ``TensorQuantizer`` with a calibrated
  /// range and the weight quantizer is INT8 per output channel (or per tensor), the fake-quantized
  /// product equals `s_x · s_w[c] · Σ qx·qw`: the integer path sums the codes exactly in 32 bits
  /// (the int8 GEMM of ``Int8Linear``) and scales once, where the float path rounds every partial
  /// sum, so the two agree within float rounding. The backward is the same in both (straight-through
  /// estimators of both quantizers, then `dx = g·Q(W)`, `dW = gᵀ·Q(x)` on the fake-quantized floats).
  public enum ForwardPath: Sendable, Equatable {
    /// The integer product while recording gradients (training) on a CPU with AVX-512 VNNI, where
    /// it applies; the float product otherwise.
    case automatic
    /// Always the float product of the fake-quantized tensors (the reference).
    case float
    /// The integer product on `instructionSet` wherever it applies, training or not (the
    /// float product when the CPU lacks the instruction set).
    case integer(Int8InstructionSet)
  }

  @TaskLocal static var forwardPath: ForwardPath = .automatic

  /// Runs `body` with every ``Linear`` computing its quantized product on `path`.
  public static func withForwardPath<R>(_ path: ForwardPath, _ body: () throws -> R) rethrows -> R {
    try $forwardPath.withValue(path, operation: body)
  }

  private static let vnni = Int8InstructionSet.avx512VNNI.isSupported

  /// The instruction set of the integer path for `x`, or `nil` when the float path runs.
  private func integerInstructionSet(_ x: Tensor) -> Int8InstructionSet? {
    switch Linear.forwardPath {
    case .float: return nil
    case .automatic:
      guard Linear.vnni, Tensor.isGradEnabled, x.requiresGrad || weight.requiresGrad else { return nil }
      return .avx512VNNI
    case .integer(let isa): return isa.isSupported ? isa : nil
    }
  }

  /// `Q(x)·Q(W)ᵀ + b` on integer codes with the backward of the float product, or `nil` when the
  /// quantizers are not the INT8 ones this path needs (see ``ForwardPath``).
  func integerForward(_ x: Tensor) -> Tensor? {
    guard let isa = integerInstructionSet(x), ForwardCheck.current == nil, x.rank >= 1, x.count > 0,
          let iq = quantizer(slot: "input_quantizer") as? TensorQuantizer,
          let wq = quantizer(slot: "weight_quantizer") as? TensorQuantizer,
          let inputAmax = iq.staticInt8PerTensorRange
    else { return nil }
    let (out, k) = (outFeatures, inFeatures)
    let w = wq.attributes
    guard wq.isEnabled, !wq.isCalibrating, wq.preQuantScale == nil, w.format == .int(bits: 8, signed: true) else { return nil }
    switch w.granularity {
    case .perTensor, .perChannel(axis: 0), .perChannel(axis: -2): break
    default: return nil
    }
    let weightAmax = wq.currentAmax(for: weight, layout: wq.layout(for: weight.shape))
    guard weightAmax.count == out || weightAmax.count == 1,
          weightAmax.allSatisfy({ $0 > IntFakeQuant.minAmax && $0.isFinite })
    else { return nil }

    // The fake-quantized tensors carry the straight-through estimators (and are what the
    // backward multiplies by); the forward product comes from the codes.
    let xq = quantize(x, slot: "input_quantizer")
    let wqT = quantize(weight, slot: "weight_quantizer")
    let inputMultiplier = 127 / inputAmax
    let layer = Self.integerLayer(
      weight, amax: weightAmax, narrow: w.narrowRange, inputMultiplier: inputMultiplier,
      inputMinCode: iq.attributes.narrowRange ? -127 : -128, bias: bias?.storage, isa: isa)
    let rows = x.count / k
    let a = layer.quantizeInput(x.storage, rows: rows, isa: isa)
    let product = [Float](unsafeUninitializedCapacity: rows * out) { o, n in
      a.withUnsafeBufferPointer { c in
        layer.run(
          c.baseAddress!, rows: rows, activation: .none, isa: isa, out: o.baseAddress, codes: nil, ldCodes: 0,
          nextMultiplier: 0, nextMin: -128)
      }
      n = rows * out
    }
    return Tensor.recordingLinear(product, x: xq, weight: wqT, bias: bias)
  }

  /// The integer layer of this step's weight: codes `clamp(rint(w · 127/aₙ), −128 (−127 narrow), 127)`
  /// per row — exactly the weight quantizer's codes — quantized and packed in one pass.
  static func integerLayer(
    _ weight: Tensor, amax: [Float], narrow: Bool, inputMultiplier: Float, inputMinCode: Int, bias: [Float]?,
    isa: Int8InstructionSet
  ) -> Int8Linear {
    let (out, k) = (weight.shape[0], weight.shape[1])
    let depth = Int(qk_padded_depth(Int32(k)))
    let multipliers = (0..<out).map { 127 / (amax.count == 1 ? amax[0] : amax[$0]) }
    let bytes = Int(qk_packed_weight_bytes(Int32(out), Int32(k)))
    var correction = [Int32](repeating: 0, count: out)
    let panelBytes = bytes / Swift.max(1, (out + 31) / 32)
    let packed = [Int8](unsafeUninitializedCapacity: bytes) { p, n in
      weight.storage.withUnsafeBufferPointer { w in
        multipliers.withUnsafeBufferPointer { m in
          correction.withUnsafeMutableBufferPointer { c in
            // Panels of 32 rows are independent: ranges of them in parallel.
            let box = SendableBox((w.baseAddress!, m.baseAddress!, p.baseAddress!, c.baseAddress!))
            Parallel.forRanges((out + 31) / 32, grain: Swift.max(1, (1 << 16) / Swift.max(1, 32 * k))) { r in
              let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: depth)
              defer { scratch.deallocate() }
              let (r0, r1) = (r.lowerBound * 32, Swift.min(out, r.upperBound * 32))
              qk_quantize_pack_weights(
                Int32(isa.rawValue), box.value.0 + r0 * k, Int32(r1 - r0), Int32(k), box.value.1 + r0,
                narrow ? -127 : -128, box.value.2 + r.lowerBound * panelBytes, box.value.3 + r0, scratch)
            }
          }
        }
      }
      n = bytes
    }
    return Int8Linear(
      inFeatures: k, outFeatures: out, inputMultiplier: inputMultiplier, inputMinCode: inputMinCode, depth: depth,
      packed: packed, correction: correction,
      dequant: Int8Linear.dequantization(inputMultiplier: inputMultiplier, weightAmax: amax, outFeatures: out), bias: bias)
  }
}

extension TensorQuantizer {
  /// The calibrated range of an enabled static INT8 per-tensor quantizer without a
  /// pre-quantization scale (above the smallest usable range), else `nil`.
  var staticInt8PerTensorRange: Float? {
    let a = attributes
    guard isEnabled, !isCalibrating, preQuantScale == nil, a.format == .int(bits: 8, signed: true), a.granularity == .perTensor,
          !a.dynamic, let amax, amax.count == 1
    else { return nil }
    let v = amax.storage[0]
    return v > IntFakeQuant.minAmax && v.isFinite ? v : nil
  }
}
