/// The built-in quantizer (algorithm `"static"`), ModelOpt's `TensorQuantizer`: INT 2–8
/// bits, FP8 E4M3 / E5M2, NVFP4, MXFP4, MXFP8; per tensor, per channel or per block; a
/// calibrated (`_amax` state) or dynamic range; pass-through or clipped straight-through
/// estimator. No gradient flows to the range (ModelOpt reads `amax.data`); learned ranges
/// are plugins' business (LSQ, PACT).
///
/// - A static quantizer that was never calibrated uses the range of each input (as
///   ModelOpt does without `_amax`).
/// - While calibrating, `callAsFunction` only hands its input to the calibrator and returns
///   it unchanged (ModelOpt disables quantization during calibration).
/// - NVFP4's `_amax` is the per-tensor (global) range; its block scales come from each input.
///   MX formats have no `_amax`.
/// - An optional ``preQuantScale`` (ModelOpt's `_pre_quant_scale`, from SmoothQuant / AWQ)
///   multiplies the input along its last axis before it is observed or quantized. As in
///   ModelOpt it applies whether or not the quantizer is enabled: a disabled quantizer with a
///   `pre_quant_scale` (what AWQ leaves on the inputs of weight-only layers whose scale cannot
///   fold into the layer before) scales and does not quantize; without one it is the identity.
public final class TensorQuantizer: Quantizer {
  /// The attributes.
  public let attributes: QuantizerAttributes
  /// When `false` the quantizer is the identity.
  public var isEnabled: Bool
  /// The calibrated range (`_amax`), `nil` for dynamic ranges or before calibration.
  public private(set) var amax: Tensor?
  /// Per-input-channel factors applied before quantizing (`_pre_quant_scale`), or `nil`.
  public private(set) var preQuantScale: Tensor?
  /// NaN / ±Inf values the last calibration skipped.
  public private(set) var calibrationNonFiniteCount = 0
  private var calibrator: (any Calibrator)?
  private var calibrationShape: [Int]?

  /// Creates a quantizer.
  ///
  /// - Throws: ``ConfigError`` when the attributes do not combine (see
  ///   ``QuantizerAttributes/validate(path:)``).
  public init(attributes: QuantizerAttributes) throws {
    try attributes.validate(path: "")
    self.attributes = attributes
    isEnabled = attributes.enable
  }

  /// Whether a calibrator is attached.
  public var isCalibrating: Bool { calibrator != nil }

  /// The granularity of `_amax`: per tensor for NVFP4 (its blocks scale under it), `nil`
  /// for MX formats (no range).
  public var amaxGranularity: QuantGranularity? {
    switch attributes.format {
    case .mxfp4, .mxfp8: nil
    case .nvfp4: .perTensor
    default: attributes.granularity
    }
  }

  /// The group layout of `_amax` over a tensor of `shape`.
  package func layout(for shape: [Int]) -> GroupLayout {
    GroupLayout(amaxGranularity ?? .perTensor, shape: shape)
  }

  /// Sets the range directly (tests, plugins, import of ModelOpt checkpoints).
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` for an MX format (no range).
  public func setAmax(_ value: Tensor) throws {
    guard amaxGranularity != nil else { throw QuantizerError.stateMismatch("\(attributes.format) has no range") }
    amax = value.detach()
  }

  /// Forgets the calibrated range (ModelOpt's `reset_amax`): until it is calibrated or set
  /// again, a static quantizer uses the range of each input.
  public func resetRange() { amax = nil }

  /// Sets (or clears) the pre-quantization scale: one positive finite factor per element of
  /// the input's last axis (ModelOpt's `_pre_quant_scale`; importers of SmoothQuant / AWQ
  /// checkpoints set it).
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` for a tensor that is not 1-D or holds a
  ///   factor that is not positive and finite.
  public func setPreQuantScale(_ value: Tensor?) throws {
    preQuantScale = try value.map(Self.validatedPreQuantScale)
  }

  /// `value` detached, once it is a valid `_pre_quant_scale`: 1-D, every factor positive and
  /// finite. Quantizers of plugins that carry a pre-quantization scale validate it with this too.
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` saying which rule `value` breaks.
  public static func validatedPreQuantScale(_ value: Tensor) throws -> Tensor {
    guard value.rank == 1, value.count > 0 else {
      throw QuantizerError.stateMismatch("pre_quant_scale must be 1-D (one factor per input channel), got shape \(value.shape)")
    }
    if let bad = value.scalars.first(where: { !($0 > 0 && $0.isFinite) }) {
      throw QuantizerError.stateMismatch("pre_quant_scale factors must be positive and finite, found \(bad)")
    }
    return value.detach()
  }

  /// `("_amax", amax)` once a static range exists, and `("_pre_quant_scale", …)` when set.
  public func stateTensors() -> [(String, Tensor)] {
    var out: [(String, Tensor)] = []
    if let amax { out.append(("_amax", amax)) }
    if let preQuantScale { out.append(("_pre_quant_scale", preQuantScale)) }
    return out
  }

  /// Starts observing inputs.
  public func beginCalibration(_ calibrator: any Calibrator) {
    calibrator.reset()
    self.calibrator = calibrator
    calibrationShape = nil
  }

  /// Sets `_amax` from the calibrator and stops observing.
  ///
  /// - Throws: ``QuantizerError/notCalibrated(path:)`` when no input arrived (the path is
  ///   filled in by the mode), or the calibrator's error.
  public func endCalibration() throws {
    guard let calibrator else { return }
    defer {
      self.calibrator = nil
      calibrationShape = nil
    }
    calibrationNonFiniteCount = calibrator.nonFiniteCount
    guard let shape = calibrationShape, let values = try calibrator.computeAmax(for: calibrationTarget) else {
      throw QuantizerError.notCalibrated(path: "")
    }
    let amaxShape = layout(for: shape).amaxShape
    precondition(amaxShape.reduce(1, *) == values.count, "calibrator returned \(values.count) ranges for \(amaxShape)")
    amax = Tensor(shape: amaxShape, storage: values)
  }

  /// Fake quantization of one group, for error-minimizing calibrators.
  public var calibrationTarget: CalibrationTarget {
    let attrs = attributes
    return CalibrationTarget(format: attrs.format) { values, amax in
      QuantCodec.fakeQuantize(
        values, format: attrs.format, narrow: attrs.narrowRange, layout: GroupLayout(.perTensor, shape: [values.count]),
        amax: [amax], blockSize: attrs.effectiveBlockSize)
    }
  }

  /// Zero-filled `_amax` (and ones-filled `_pre_quant_scale`) of the recorded shapes, before a
  /// state dict is loaded.
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` for state this quantizer does not have
  ///   (dynamic ranges and MX formats have no `_amax`) or a shape it cannot have: a 1-D
  ///   `_pre_quant_scale`; an `_amax` with one value per tensor (all dimensions 1), per channel
  ///   (all dimensions 1 but the axis) or per block (rank at least 1); every dimension at least 1.
  public func allocateState(shapes: [String: [Int]]) throws {
    for (name, shape) in shapes {
      if name == "_pre_quant_scale" {
        guard shape.count == 1, shape[0] >= 1 else {
          throw QuantizerError.stateMismatch("_pre_quant_scale must be 1-D and non-empty, the checkpoint has shape \(shape)")
        }
        continue
      }
      guard name == "_amax", let g = amaxGranularity, !attributes.dynamic else {
        throw QuantizerError.stateMismatch("\(attributes.format) quantizer (dynamic: \(attributes.dynamic)) has no state '\(name)'")
      }
      func fail(_ m: String) -> QuantizerError {
        QuantizerError.stateMismatch("a \(g) \(attributes.format) range cannot have shape \(shape): \(m)")
      }
      guard shape.allSatisfy({ $0 >= 1 }) else { throw fail("every dimension must be at least 1") }
      switch g {
      case .perTensor:
        guard shape.allSatisfy({ $0 == 1 }) else { throw fail("one value per tensor") }
      case .perChannel(let a):
        let r = shape.count
        guard (-r..<r).contains(a) else { throw fail("axis \(a) needs a range of rank > \(a < 0 ? -a - 1 : a)") }
        let ax = a < 0 ? a + r : a
        guard shape.indices.allSatisfy({ $0 == ax || shape[$0] == 1 }) else {
          throw fail("all dimensions but axis \(a) must be 1")
        }
      case .perBlock:
        guard !shape.isEmpty else { throw fail("per-block ranges have rank >= 1") }
      }
    }
    for (name, shape) in shapes {
      if name == "_amax" { amax = Tensor.zeros(shape) } else { preQuantScale = Tensor.ones(shape) }
    }
  }

  /// The `_amax` shape calibration gives this quantizer for inputs of `shape` (`nil` for
  /// dynamic ranges and MX formats); the caller checks ``validate(inputShape:)`` first.
  package func expectedAmaxShape(forInput shape: [Int]) -> [Int]? {
    guard amaxGranularity != nil, !attributes.dynamic else { return nil }
    return layout(for: shape).amaxShape
  }

  /// Checks a restored activation range against what the layer fixes: a per-channel range is
  /// not on the batch axis (axis 0 of its rank, rank >= 2), and on the last axis it has
  /// `lastDim` entries when the layer fixes the last dimension.
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)``.
  package func validateActivationState(lastDim: Int?) throws {
    if let lastDim, let preQuantScale, preQuantScale.count != lastDim {
      throw QuantizerError.stateMismatch(
        "_pre_quant_scale has \(preQuantScale.count) factors but the layer's last dimension is \(lastDim)")
    }
    guard let amax, case .perChannel(let a) = attributes.granularity else { return }
    let r = amax.rank
    let ax = a < 0 ? a + r : a
    if ax == 0, r >= 2 {
      throw QuantizerError.stateMismatch("a static range of shape \(amax.shape) on axis \(a) is per batch row")
    }
    if let lastDim, ax == r - 1, amax.shape[ax] != lastDim {
      throw QuantizerError.stateMismatch(
        "the range has \(amax.shape[ax]) channels (shape \(amax.shape)) but the layer's last dimension is \(lastDim)")
    }
  }

  /// Checks that ``callAsFunction(_:)`` can take an input of `shape`: the axis is in range, the
  /// block size divides the last dimension, a static range has one entry per group, and while
  /// calibrating every input has the groups of the first.
  ///
  /// - Throws: ``QuantizerError/incompatibleInput(path:shape:_:)`` (path empty).
  public func validate(inputShape shape: [Int]) throws {
    func fail(_ m: String) -> QuantizerError { QuantizerError.incompatibleInput(path: "", shape: shape, m) }
    if case .perChannel(let a) = attributes.granularity, !(-shape.count..<shape.count).contains(a) {
      throw fail("axis \(a) is out of range for rank \(shape.count)")
    }
    if let b = attributes.effectiveBlockSize, (shape.last.map { $0 % b != 0 } ?? true) {
      throw fail("block size \(b) does not divide the last dimension \(shape.last.map { "\($0)" } ?? "(rank 0)")")
    }
    if let preQuantScale, shape.last != preQuantScale.count {
      throw fail("pre_quant_scale has \(preQuantScale.count) factors but the last dimension is \(shape.last.map { "\($0)" } ?? "(rank 0)")")
    }
    guard amaxGranularity != nil, !attributes.dynamic else { return }
    let groups = layout(for: shape).groupCount
    if isCalibrating {
      if let seen = calibrationShape, layout(for: seen).groupCount != groups {
        throw fail(
          "calibration saw \(layout(for: seen).groupCount) range groups (input \(seen)), now \(groups); a static \(attributes.granularity) range needs the same groups in every batch")
      }
    } else if let amax, amax.count != groups {
      throw fail("the range has \(amax.count) entries (shape \(amax.shape)) but this input has \(groups) \(attributes.granularity) groups")
    }
  }

  /// The range per group for `x`: the static one, or computed from `x` (dynamic, or never
  /// calibrated).
  package func currentAmax(for x: Tensor, layout: GroupLayout) -> [Float] {
    guard amaxGranularity != nil else { return [] }
    if !attributes.dynamic, let amax {
      precondition(
        amax.count == layout.groupCount,
        "quantizer range has \(amax.count) entries (shape \(amax.shape)) but input \(x.shape) has \(layout.groupCount) groups")
      return amax.storage
    }
    return layout.absMax(x.storage)
  }

  private func checkBlocks(_ x: Tensor) {
    if let b = attributes.effectiveBlockSize {
      precondition(
        (x.shape.last ?? 1) % b == 0,
        "quantizer block size \(b) does not divide the last dimension of input \(x.shape)")
    }
  }

  /// Fake-quantizes `x` (or observes it while calibrating), recording the STE backward.
  public func callAsFunction(_ input: Tensor) -> Tensor {
    let x = scaledInput(input)
    guard isEnabled else { return x }
    if let calibrator {
      let l = layout(for: x.shape)
      calibrator.collect(l.batch(x.storage))
      calibrationShape = x.shape
      return x
    }
    checkBlocks(x)
    let l = layout(for: x.shape)
    let a = currentAmax(for: x, layout: l)
    let clipped = !attributes.passThroughSTE && amaxGranularity != nil
    // Output and mask are written in full by the kernel: no zero-fill pass before it.
    let n = x.count
    var mask = clipped ? [UInt8](unsafeUninitializedCapacity: n) { _, count in count = n } : []
    let y = [Float](unsafeUninitializedCapacity: n) { buffer, count in
      do {
        try fakeQuantize(x, amax: a, into: buffer, mask: &mask)
      } catch {
        preconditionFailure("\(error)")
      }
      count = n
    }
    let out = Tensor(shape: x.shape, storage: y)
    guard clipped else { return out.recording("fake_quant_ste", inputs: [x]) { g in [g] } }
    // Clipped STE: the gradient passes where |x| <= amax (ModelOpt's symmetric mask).
    return out.recordingClippedSTE("fake_quant_clipped_ste", input: x, mask: mask)
  }

  /// `x · preQuantScale` along the last axis (recording its gradient), or `x`.
  package func scaledInput(_ x: Tensor) -> Tensor {
    guard let preQuantScale else { return x }
    precondition(
      x.shape.last == preQuantScale.count,
      "pre_quant_scale has \(preQuantScale.count) factors but the input's last axis is \(x.shape.last ?? 0)")
    return x * preQuantScale
  }

  /// The numerics format of an integer or FP8 quantizer.
  private var numberFormat: NumberFormat? {
    switch attributes.format {
    case .int(let b, let s): .int(bits: b, signed: s, narrowRange: attributes.narrowRange)
    case .e4m3: .fp8E4M3
    case .e5m2: .fp8E5M2
    default: nil
    }
  }

  /// Runs the SIMD kernel of the format with ranges `amax` (per group; `[global]` for NVFP4).
  private func fakeQuantize(
    _ x: Tensor, amax: [Float], into yb: UnsafeMutableBufferPointer<Float>, mask: inout [UInt8]
  ) throws {
    let wantMask = !mask.isEmpty
    let shape = x.shape
    try x.storage.withUnsafeBufferPointer { xb in
      switch attributes.format {
      case .int, .e4m3, .e5m2:
        let nf = numberFormat!
        let g = amaxGranularity ?? .perTensor
        try amax.withUnsafeBufferPointer { ab in
          if wantMask {
            try mask.withUnsafeMutableBufferPointer { mb in
              if nf.isInteger {
                try IntFakeQuant.modelOpt(xb, shape: shape, format: nf, granularity: g, amax: ab, into: yb, steMask: mb)
              } else {
                try FP8.fakeQuantModelOpt(xb, shape: shape, format: nf, granularity: g, amax: ab, into: yb, steMask: mb)
              }
            }
          } else if nf.isInteger {
            try IntFakeQuant.modelOpt(xb, shape: shape, format: nf, granularity: g, amax: ab, into: yb)
          } else {
            try FP8.fakeQuantModelOpt(xb, shape: shape, format: nf, granularity: g, amax: ab, into: yb)
          }
        }
      case .nvfp4:
        try NVFP4.fakeQuant(
          xb, shape: shape, globalAmax: amax.first ?? 0, blockSize: attributes.effectiveBlockSize ?? 16, into: yb)
        if wantMask {
          // Clipped STE for NVFP4: |x| <= global amax.
          let g = amax.first ?? 0
          for i in 0..<xb.count { mask[i] = Swift.abs(xb[i]) <= g ? 1 : 0 }
        }
      case .mxfp4:
        try MXFormat.mxfp4.fakeQuant(xb, shape: shape, blockSize: attributes.effectiveBlockSize ?? 32, into: yb)
      case .mxfp8:
        try MXFormat.mxfp8.fakeQuant(xb, shape: shape, blockSize: attributes.effectiveBlockSize ?? 32, into: yb)
      }
    }
  }
}
