import QATKit

/// Asymmetric ("affine") integers with a zero point: PyTorch's
/// `torch.fake_quantize_per_tensor_affine` / `fake_quantize_per_channel_affine` as a quantizer
/// (algorithm `"affine"`), per tensor, per channel or per block of the last axis (torchao's
/// grouped asymmetric weights), with ranges from min/max calibration or from each input.
///
///     q = clamp(rint(x · fp32(1/scale)) + zeroPoint, quantMin, quantMax)
///     x̂ = (q − zeroPoint) · scale
///
/// The code range: `uint<b>` is `[0, 2^b − 1]` (PyTorch's `quint8`, `quint4x2`), `int<b>` is
/// `[−2^(b−1), 2^(b−1) − 1]` (`qint8`; `narrowRange` drops the lowest code).
///
/// Calibration follows PyTorch's `MinMaxObserver` / `PerChannelMinMaxObserver` with
/// `qscheme=per_tensor_affine` / `per_channel_affine`: per group, the range is widened to contain
/// zero (`lo = min(min x, 0)`, `hi = max(max x, 0)`), `scale = max((hi − lo) / (quantMax −
/// quantMin), ε)` with ε = 2⁻²³ (`torch.finfo(float32).eps`), `zeroPoint = clamp(quantMin −
/// round(lo / scale), quantMin, quantMax)` (round half to even). Exact zero is therefore on the
/// grid (zero padding and ReLU zeros stay exact). The two one-sided extremes of every group go
/// through the configured `max` calibrator (as `2·groups` ranges), so data-parallel
/// calibration combines them across ranks like any max range.
///
/// Gradient: with `passThroughSTE` (the default) the gradient passes everywhere; with
/// `passThroughSTE: false` it is PyTorch's: `grad · [quantMin ≤ rint(x/scale) + zeroPoint ≤
/// quantMax]`. No gradient flows to the scale or zero point (LSQ+ learns them).
///
/// State: `_scale` and `_zero_point` (the zero point stored as a float holding an integer), in
/// the shape of ``GroupLayout/amaxShape`` (ModelOpt's `_amax` layout). Export gives the codes
/// with their scales and zero points (``QuantizedTensor/isAffine``).
public final class AffineQuantizer: Quantizer {
  /// Options under `algorithmOptions`: none.
  public typealias Options = NoOptions

  /// The attributes (an integer format).
  public let attributes: QuantizerAttributes
  /// When `false` the quantizer is the identity.
  public var isEnabled: Bool
  /// The smallest code.
  public let quantMin: Int
  /// The largest code.
  public let quantMax: Int
  /// The calibrated scale per group, `nil` before calibration and for dynamic ranges.
  public private(set) var scale: Tensor?
  /// The calibrated zero point per group (integers stored as floats).
  public private(set) var zeroPoint: Tensor?
  /// NaN / ±Inf values the last calibration skipped.
  public private(set) var calibrationNonFiniteCount = 0
  private var calibrator: (any Calibrator)?
  private var calibrationShape: [Int]?
  private var skipped = 0

  /// Creates the quantizer.
  ///
  /// - Throws: ``ConfigError`` for a format that is not an integer, a calibrator other than
  ///   `max` (the range is the observed minimum and maximum), or any `algorithmOptions` key.
  public init(attributes: QuantizerAttributes) throws {
    try attributes.validate(path: "")
    guard case .int(let bits, let signed) = attributes.format else {
      throw ConfigError.invalidValue(
        "affine", path: "format", "asymmetric quantization uses an integer grid: give uint<bits> or int<bits>, not \(attributes.format)")
    }
    guard attributes.calibrator == "max" else {
      throw ConfigError.invalidValue(
        "affine", path: "calibrator",
        "affine ranges are the observed minimum and maximum (PyTorch's MinMaxObserver): use the 'max' calibrator, not '\(attributes.calibrator)'")
    }
    _ = try attributes.decodeAlgorithmOptions(Options.self)
    self.attributes = attributes
    isEnabled = attributes.enable
    if signed {
      quantMax = (1 << (bits - 1)) - 1
      quantMin = attributes.narrowRange ? -quantMax : -quantMax - 1
    } else {
      quantMin = 0
      quantMax = (1 << bits) - 1
    }
  }

  /// PyTorch's `_calculate_qparams` for one group observed in `[minimum, maximum]`.
  public func parameters(minimum: Float, maximum: Float) -> (scale: Float, zeroPoint: Float) {
    let lo = Swift.min(minimum, 0), hi = Swift.max(maximum, 0)
    let s = Swift.max((hi - lo) / Float(quantMax - quantMin), Float.ulpOfOne)
    let z = Float(quantMin) - (lo / s).rounded(.toNearestOrEven)
    return (s, Swift.min(Swift.max(z, Float(quantMin)), Float(quantMax)))
  }

  /// Sets the scale and zero point directly (tests, importers of PyTorch checkpoints).
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` for different shapes, a scale that is not
  ///   positive and finite, or a zero point that is not an integer of `[quantMin, quantMax]`.
  public func setParameters(scale: Tensor, zeroPoint: Tensor) throws {
    guard scale.shape == zeroPoint.shape else {
      throw QuantizerError.stateMismatch("affine: scale \(scale.shape) and zero point \(zeroPoint.shape) differ in shape")
    }
    try Self.check(scale.scalars, zeroPoint.scalars, quantMin: quantMin, quantMax: quantMax)
    self.scale = scale.detach()
    self.zeroPoint = zeroPoint.detach()
  }

  static func check(_ scales: [Float], _ zeroPoints: [Float], quantMin: Int, quantMax: Int) throws {
    if let bad = scales.first(where: { !($0 > 0 && $0.isFinite) }) {
      throw QuantizerError.stateMismatch("affine: scale \(bad) is not positive and finite")
    }
    if let bad = zeroPoints.first(where: { $0 != $0.rounded() || $0 < Float(quantMin) || $0 > Float(quantMax) }) {
      throw QuantizerError.stateMismatch("affine: zero point \(bad) is not an integer in [\(quantMin), \(quantMax)]")
    }
  }

  /// `_scale` and `_zero_point` once calibrated (dynamic quantizers have none).
  public func stateTensors() -> [(String, Tensor)] {
    guard let scale, let zeroPoint else { return [] }
    return [("_scale", scale), ("_zero_point", zeroPoint)]
  }

  /// Starts observing minima and maxima.
  public func beginCalibration(_ calibrator: any Calibrator) {
    calibrator.reset()
    self.calibrator = calibrator
    calibrationShape = nil
    skipped = 0
  }

  /// Sets the scale and zero point from the observed range of every group.
  ///
  /// - Throws: ``QuantizerError/notCalibrated(path:)`` when nothing was observed, or the
  ///   calibrator's error.
  public func endCalibration() throws {
    guard let calibrator else { return }
    defer {
      self.calibrator = nil
      calibrationShape = nil
    }
    calibrationNonFiniteCount = skipped + calibrator.nonFiniteCount
    let target = CalibrationTarget(format: attributes.format) { values, _ in values }
    guard let shape = calibrationShape, let extremes = try calibrator.computeAmax(for: target) else {
      throw QuantizerError.notCalibrated(path: "")
    }
    let layout = GroupLayout(attributes.granularity, shape: shape)
    guard extremes.count == 2 * layout.groupCount else {
      throw QuantizerError.calibrationFailed(path: "", "the calibrator returned \(extremes.count) ranges for \(layout.groupCount) groups")
    }
    let p = (0..<layout.groupCount).map { parameters(minimum: -extremes[2 * $0 + 1], maximum: extremes[2 * $0]) }
    scale = Tensor(shape: layout.amaxShape, storage: p.map(\.scale))
    zeroPoint = Tensor(shape: layout.amaxShape, storage: p.map(\.zeroPoint))
  }

  /// Zero points of 0 and scales of 1 of the recorded shapes, before a state dict is loaded.
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` for other names or different shapes.
  public func allocateState(shapes: [String: [Int]]) throws {
    guard shapes.keys.sorted() == ["_scale", "_zero_point"], let s = shapes["_scale"], s == shapes["_zero_point"], !attributes.dynamic else {
      throw QuantizerError.stateMismatch("affine (dynamic: \(attributes.dynamic)) expects state {_scale, _zero_point} of one shape, got \(shapes)")
    }
    scale = Tensor.ones(s)
    zeroPoint = Tensor.zeros(s)
  }

  /// Checks that `shape` fits the granularity and, once calibrated, has as many groups as the
  /// scale (a static range needs the same groups in every input).
  ///
  /// - Throws: ``QuantizerError/incompatibleInput(path:shape:_:)`` saying what does not fit.
  public func validate(inputShape shape: [Int]) throws {
    guard GroupLayout.fits(attributes.granularity, shape: shape) else {
      throw QuantizerError.incompatibleInput(path: "", shape: shape, "\(attributes.granularity) does not fit this input")
    }
    let groups = GroupLayout(attributes.granularity, shape: shape).groupCount
    if calibrator == nil, !attributes.dynamic, let scale, scale.count != groups {
      throw QuantizerError.incompatibleInput(
        path: "", shape: shape, "the scale has \(scale.count) entries (shape \(scale.shape)) but this input has \(groups) \(attributes.granularity) groups")
    }
  }

  /// Per group: the largest value and the negated smallest, each at least 0 (finite values).
  func extremes(_ x: Tensor, layout: GroupLayout) -> (values: [Float], nonFinite: Int) {
    var out = [Float](repeating: 0, count: 2 * layout.groupCount)
    var nonFinite = 0
    x.withUnsafeBufferPointer { p in
      out.withUnsafeMutableBufferPointer { o in
        var groups = layout.groups.makeIterator()
        for i in 0..<p.count {
          let g = groups.next()!
          let v = p[i]
          guard v.isFinite else {
            nonFinite += 1
            continue
          }
          if v > o[2 * g] { o[2 * g] = v }
          if -v > o[2 * g + 1] { o[2 * g + 1] = -v }
        }
      }
    }
    return (out, nonFinite)
  }

  /// The scale and zero point (as integers) per group for `x`: the calibrated ones, or from
  /// `x`'s range (dynamic, or never calibrated).
  func currentParameters(for x: Tensor, layout: GroupLayout) -> (scales: [Float], zeroPoints: [Int]) {
    if !attributes.dynamic, let scale, let zeroPoint {
      precondition(
        scale.count == layout.groupCount,
        "affine quantizer has \(scale.count) groups (shape \(scale.shape)) but input \(x.shape) has \(layout.groupCount)")
      return (scale.storage, zeroPoint.storage.map { Int($0) })
    }
    let e = extremes(x, layout: layout).values
    let p = (0..<layout.groupCount).map { parameters(minimum: -e[2 * $0 + 1], maximum: e[2 * $0]) }
    return (p.map(\.scale), p.map { Int($0.zeroPoint) })
  }

  /// Fake-quantizes `x` (or observes it while calibrating), recording the STE backward.
  public func callAsFunction(_ x: Tensor) -> Tensor {
    guard isEnabled else { return x }
    precondition(
      GroupLayout.fits(attributes.granularity, shape: x.shape), "affine: \(attributes.granularity) does not fit input shape \(x.shape)")
    let layout = GroupLayout(attributes.granularity, shape: x.shape)
    if let calibrator {
      let (values, nonFinite) = extremes(x, layout: layout)
      skipped += nonFinite
      calibrator.collect(CalibrationBatch(groupCount: values.count, groupSize: 1, values: values))
      calibrationShape = x.shape
      return x
    }
    let (scales, zeroPoints) = currentParameters(for: x, layout: layout)
    let clipped = !attributes.passThroughSTE
    let n = x.count
    var mask = [UInt8](repeating: 0, count: clipped ? n : 0)
    let y = [Float](unsafeUninitializedCapacity: n) { out, count in
      x.storage.withUnsafeBufferPointer { xb in
        do {
          if clipped {
            try mask.withUnsafeMutableBufferPointer { mb in
              try TorchFakeQuant.affine(
                xb, shape: x.shape, granularity: attributes.granularity, scales: scales, zeroPoints: zeroPoints,
                quantMin: quantMin, quantMax: quantMax, into: out, gradMask: mb)
            }
          } else {
            try TorchFakeQuant.affine(
              xb, shape: x.shape, granularity: attributes.granularity, scales: scales, zeroPoints: zeroPoints,
              quantMin: quantMin, quantMax: quantMax, into: out)
          }
        } catch {
          preconditionFailure("affine quantizer: \(error)")
        }
      }
      count = n
    }
    let out = Tensor(shape: x.shape, storage: y)
    guard clipped else { return out.recording("affine_fake_quant_ste", inputs: [x]) { g in [g] } }
    return out.recordingClippedSTE("affine_fake_quant_clipped_ste", input: x, mask: mask, maskedZero: .signed)
  }
}
