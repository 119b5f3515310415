import QATKit

/// LSQ+ (Bhalgat, Lee, Nagel, Blankevoort, Kwak, "LSQ+: Improving low-bit quantization
/// through learnable offsets and better initialization", CVPR Workshops 2020): a learned scale
/// `s` and a learned offset `β` per group, so an asymmetric range (activations of Swish or GELU
/// that dip below zero) uses the whole integer grid.
///
///     x̂ = clamp(round((x − β) / s), n, p) · s + β
///
/// with `[n, p]` the format's integer range: `[0, 2^b − 1]` for unsigned formats (the paper's
/// choice for activations), `[−2^(b−1), 2^(b−1) − 1]` for signed ones. Gradients (the paper's
/// equations 5 and 6, straight-through on the rounding): to `x` 1 inside the grid, 0 outside;
/// to `s` `round(v) − v` inside (`v = (x − β)/s`), `n` or `p` outside; to `β` 0 inside, 1
/// outside; the parameter gradients are multiplied by LSQ's `1/√(N_group · p)` unless
/// `gradScale` is off.
///
/// Initialization: from the minimum and maximum of the values observed at calibration,
/// `s = (max − min) / (p − n)` and `β = min − n·s` (the paper's min-max start; it then learns).
/// The configured calibrator is built by the `quantize` mode but not used.
///
/// This plugin keeps its own asymmetric integer grid; the core's formats stay symmetric, so it
/// exports nothing (``Quantizer/export(_:)`` throws). State: `_scale` and `_offset`, one value
/// per group (any granularity), both trained.
public final class LSQPlusQuantizer: Quantizer {
  /// Options under `algorithmOptions`.
  public struct Options: PluginOptions, Equatable {
    /// Multiply the gradients of `s` and `β` by `1/√(N_group · p)` (default true).
    public var gradScale = true
    /// The defaults.
    public init() {}
  }

  /// Enabled flag.
  public var isEnabled: Bool
  /// The attributes (an integer format).
  public let attributes: QuantizerAttributes
  /// The options in use.
  public let options: Options
  /// The learned step per group.
  public private(set) var scale: Tensor?
  /// The learned offset per group.
  public private(set) var offset: Tensor?
  /// The integer grid `[n, p]`.
  public let lower: Float, upper: Float
  private var observedRange: (min: [Float], max: [Float])?

  /// Creates the quantizer.
  ///
  /// - Throws: ``QuantizerError/unsupportedFormat(algorithm:format:reason:)`` for non-integer
  ///   formats; ``ConfigError`` for widths outside 2…8 bits and other attribute combinations the
  ///   core rejects (``QuantizerAttributes/validate(path:)``), or an option.
  public init(attributes: QuantizerAttributes) throws {
    guard case .int(let bits, let signed) = attributes.format else {
      throw QuantizerError.unsupportedFormat(
        algorithm: "lsq_plus", format: attributes.format, reason: "lsq_plus uses an integer grid; use int2…int8 or uint2…uint8")
    }
    try attributes.validate(path: "")
    options = try attributes.decodeAlgorithmOptions(Options.self)
    self.attributes = attributes
    isEnabled = attributes.enable
    if signed {
      upper = Float((1 << (bits - 1)) - 1)
      lower = attributes.narrowRange ? -upper : -upper - 1
    } else {
      lower = 0
      upper = Float((1 << bits) - 1)
    }
  }

  /// `_scale` and `_offset` once they exist.
  public func stateTensors() -> [(String, Tensor)] {
    guard let scale, let offset else { return [] }
    return [("_scale", scale), ("_offset", offset)]
  }

  /// Both are trained.
  public func learnableParameters() -> [(String, Tensor)] { stateTensors() }

  /// LSQ+ starts from the observed range.
  public var needsCalibration: Bool { isEnabled }

  /// Starts observing minima and maxima (the calibrator is not used).
  public func beginCalibration(_ calibrator: any Calibrator) { observedRange = ([], []) }

  /// Sets `s` and `β` from the observed minimum and maximum per group.
  ///
  /// - Throws: ``QuantizerError/notCalibrated(path:)`` when nothing was observed.
  public func endCalibration() throws {
    guard let range = observedRange, !range.min.isEmpty else { throw QuantizerError.notCalibrated(path: "") }
    observedRange = nil
    // A group that saw no finite value starts from the range [0, 0].
    let seen = zip(range.min, range.max).map { lo, hi in lo <= hi ? (lo, hi) : (Float(0), Float(0)) }
    let steps = seen.map { lo, hi in Swift.max((hi - lo) / (upper - lower), 1e-8) }
    scale = Tensor(steps, requiresGrad: true)
    offset = Tensor(zip(seen, steps).map { r, s in r.0 - lower * s }, requiresGrad: true)
  }

  /// Creates `_scale` and `_offset` with the saved shapes.
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` for other names or shapes.
  public func allocateState(shapes: [String: [Int]]) throws {
    guard shapes.keys.sorted() == ["_offset", "_scale"], let s = shapes["_scale"], s == shapes["_offset"], s.count == 1 else {
      throw QuantizerError.stateMismatch("lsq_plus expects state {_scale: [groups], _offset: [groups]}, got \(shapes)")
    }
    scale = Tensor.full(s, 1, requiresGrad: true)
    offset = Tensor.full(s, 0, requiresGrad: true)
  }

  /// Fake-quantizes with the learned scale and offset (or observes while calibrating).
  public func callAsFunction(_ x: Tensor) -> Tensor {
    precondition(GroupLayout.fits(attributes.granularity, shape: x.shape), "lsq_plus: \(attributes.granularity) does not fit input shape \(x.shape)")
    let layout = GroupLayout(attributes.granularity, shape: x.shape)
    if let range = observedRange {
      observedRange = Self.merge(range, x, layout: layout)
      return x
    }
    guard isEnabled, let scale, let offset else { return x }
    precondition(scale.count == layout.groupCount, "lsq_plus: \(scale.count) groups, the input needs \(layout.groupCount)")
    let perGroup = Float(x.count / Swift.max(layout.groupCount, 1))
    let g = options.gradScale ? 1 / (perGroup * upper).squareRoot() : 1
    return LSQPlusKernel.forward(x, scale: scale, offset: offset, layout: layout, lower: lower, upper: upper, gradScale: g)
  }

  /// The running minimum and maximum per group, NaN and ±Inf skipped.
  static func merge(_ range: (min: [Float], max: [Float]), _ x: Tensor, layout: GroupLayout) -> (min: [Float], max: [Float]) {
    var lo = range.min.isEmpty ? [Float](repeating: .infinity, count: layout.groupCount) : range.min
    var hi = range.max.isEmpty ? [Float](repeating: -.infinity, count: layout.groupCount) : range.max
    x.withUnsafeBufferPointer { p in
      var groups = layout.groups.makeIterator()
      for i in 0..<p.count {
        let g = groups.next()!
        let v = p[i]
        guard v.isFinite else { continue }
        if v < lo[g] { lo[g] = v }
        if v > hi[g] { hi[g] = v }
      }
    }
    return (lo, hi)
  }
}
