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

  /// What the integer path needs from the quantizers, once they qualify.
  struct IntegerPlan {
    let isa: Int8InstructionSet
    let input: TensorQuantizer
    let inputAmax: Float
    let weightQuantizer: TensorQuantizer
    let weightAmax: [Float]
  }

  /// The integer path's plan for `x`, or `nil` when the quantizers are not the INT8 ones it needs
  /// (see ``ForwardPath``) or the float path is selected.
  func integerPlan(_ x: Tensor) -> IntegerPlan? {
    guard let isa = integerInstructionSet(x), ForwardCheck.current == nil, x.rank >= 1, x.count > 0,
          x.shape[x.rank - 1] == inFeatures,
          let iq = quantizer(slot: "input_quantizer") as? TensorQuantizer,
          let wq = quantizer(slot: "weight_quantizer") as? TensorQuantizer,
          let inputAmax = iq.staticInt8PerTensorRange
    else { return nil }
    let w = wq.attributes
    guard wq.isEnabled, !wq.isCalibrating, wq.preQuantScale == nil, w.format == .int(bits: 8, signed: true) else { return nil }
    switch w.granularity {
    case .perTensor, .perChannel(axis: 0), .perChannel(axis: -2): break
    default: return nil
    }
    let weightAmax = wq.currentAmax(for: weight, layout: wq.layout(for: weight.shape))
    guard weightAmax.count == outFeatures || weightAmax.count == 1,
          weightAmax.allSatisfy({ $0 > IntFakeQuant.minAmax && $0.isFinite })
    else { return nil }
    return IntegerPlan(isa: isa, input: iq, inputAmax: inputAmax, weightQuantizer: wq, weightAmax: weightAmax)
  }

  /// `Q(x)·Q(W)ᵀ + b` on integer codes with the backward of the float product, or `nil` when the
  /// integer path does not apply (see ``ForwardPath``).
  func integerForward(_ x: Tensor) -> Tensor? {
    guard let plan = integerPlan(x) else { return nil }
    // The fake-quantized input carries the straight-through estimator and is what the backward
    // multiplies by; the forward product comes from the codes.
    return integerProduct(plan, x: x, xq: quantize(x, slot: "input_quantizer"), codes: nil).y
  }

  /// The outputs of `layers` (instances of ``Linear`` itself, not of a subclass, all reading `x`: a
  /// BERT layer's `query`, `key`, `value`) on the integer path with one input
  /// quantization: one fake-quantized `x` (what each layer's backward multiplies by) and one set of
  /// codes for all the GEMMs. Applies when every layer takes the integer path and their input
  /// quantizers agree (range, narrow range, STE), which makes each layer's own quantization of `x`
  /// the same tensor; output quantizers and output hooks run per layer as in a call.
  ///
  /// - Returns: The outputs in order, or `nil` (call the layers one by one).
  package static func integerForward(sharingInput layers: [Linear], _ x: Tensor) -> [Tensor]? {
    guard let head = layers.first, layers.allSatisfy({ type(of: $0) == Linear.self }) else { return nil }
    var plans: [IntegerPlan] = []
    for layer in layers {
      guard let p = layer.integerPlan(x) else { return nil }
      plans.append(p)
    }
    let a = plans[0]
    guard plans.allSatisfy({
      $0.isa == a.isa && $0.inputAmax == a.inputAmax && $0.input.attributes.narrowRange == a.input.attributes.narrowRange
        && $0.input.attributes.passThroughSTE == a.input.attributes.passThroughSTE
    }) else { return nil }
    let xq = head.quantize(x, slot: "input_quantizer")
    var codes: [UInt8]?
    var outputs: [Tensor] = []
    for (layer, plan) in zip(layers, plans) {
      let (product, a) = layer.integerProduct(plan, x: x, xq: xq, codes: codes)
      codes = a
      let y = layer.quantize(product, slot: "output_quantizer")
      for (_, hook) in layer.outputHooks { hook(y) }
      outputs.append(y)
    }
    return outputs
  }

  /// The recorded product on the plan's integer GEMM; `codes` are `x`'s input codes when another
  /// layer with the same input quantization computed them (returned for the next one).
  private func integerProduct(_ plan: IntegerPlan, x: Tensor, xq: Tensor, codes: [UInt8]?) -> (y: Tensor, codes: [UInt8]) {
    let (out, k) = (outFeatures, inFeatures)
    let wq = quantize(weight, slot: "weight_quantizer")
    let layer = Self.integerLayer(
      weight, amax: plan.weightAmax, narrow: plan.weightQuantizer.attributes.narrowRange,
      inputMultiplier: 127 / plan.inputAmax, inputMinCode: plan.input.attributes.narrowRange ? -127 : -128,
      bias: bias?.storage, isa: plan.isa)
    let rows = x.count / k
    let a = codes ?? layer.quantizeInput(x.storage, rows: rows, isa: plan.isa)
    let product = [Float](unsafeUninitializedCapacity: rows * out) { o, n in
      a.withUnsafeBufferPointer { c in
        layer.run(
          c.baseAddress!, rows: rows, activation: .none, isa: plan.isa, out: o.baseAddress, codes: nil, ldCodes: 0,
          nextMultiplier: 0, nextMin: -128)
      }
      n = rows * out
    }
    return (Tensor.recordingLinear(product, x: xq, weight: wq, bias: bias), a)
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
