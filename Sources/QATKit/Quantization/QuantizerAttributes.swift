/// Everything that defines one quantizer, ModelOpt's `QuantizerAttributeConfig` in Swift.
///
/// Codable (missing keys take the defaults below; unknown keys are errors when decoded with
/// ``JSONValue/decode(_:context:)``), hashable and sendable, and stored verbatim in the
/// `quantize` mode's metadata so a restored model rebuilds the same quantizer.
///
/// | key | default | meaning |
/// |---|---|---|
/// | `enable` | `true` | `false` keeps the quantizer in its slot as the identity |
/// | `format` | `"int8"` | see ``QuantFormat`` |
/// | `narrowRange` | `false` | integers: drop the most negative code (`[-127, 127]`) |
/// | `axis` | `nil` | per-channel ranges along this axis (negative counts from the end) |
/// | `blockSize` | `nil` | per-block ranges over blocks of the last axis (16 / 32 implied for NVFP4 / MX) |
/// | `dynamic` | `false` | compute the range from every input instead of calibrating it |
/// | `passThroughSTE` | `true` | backward passes the gradient unchanged (ModelOpt ≥ 0.43); `false` zeroes it where `|x| > amax` |
/// | `calibrator` | `"max"` | `"max"`, `"percentile"`, `"mse"`, `"entropy"` or a plugin's name |
/// | `calibratorOptions` | `nil` | options for the calibrator, e.g. `{"percentile": 99.9}` |
/// | `algorithm` | `"static"` | the quantizer implementation: `"static"` is ``TensorQuantizer``; plugins add `"lsq"`, `"pact"` |
/// | `algorithmOptions` | `nil` | options for the algorithm |
public struct QuantizerAttributes: Codable, Hashable, Sendable {
  /// Whether the quantizer is active.
  public var enable: Bool
  /// The number format.
  public var format: QuantFormat
  /// Integers only: use `[-maxBound, maxBound]` instead of `[-maxBound-1, maxBound]`.
  public var narrowRange: Bool
  /// Per-channel axis, or `nil`.
  public var axis: Int?
  /// Block size along the last axis, or `nil`.
  public var blockSize: Int?
  /// Range from each input (no calibration) instead of a calibrated static range.
  public var dynamic: Bool
  /// Straight-through estimator: pass-through (`true`) or clipped (`false`).
  public var passThroughSTE: Bool
  /// The calibrator's name.
  public var calibrator: String
  /// The calibrator's options.
  public var calibratorOptions: JSONValue?
  /// The quantizer algorithm's name.
  public var algorithm: String
  /// The algorithm's options.
  public var algorithmOptions: JSONValue?

  /// Creates attributes; every argument has ModelOpt's default.
  public init(
    enable: Bool = true, format: QuantFormat = .int8, narrowRange: Bool = false, axis: Int? = nil,
    blockSize: Int? = nil, dynamic: Bool = false, passThroughSTE: Bool = true, calibrator: String = "max",
    calibratorOptions: JSONValue? = nil, algorithm: String = "static", algorithmOptions: JSONValue? = nil
  ) {
    self.enable = enable
    self.format = format
    self.narrowRange = narrowRange
    self.axis = axis
    self.blockSize = blockSize
    self.dynamic = dynamic
    self.passThroughSTE = passThroughSTE
    self.calibrator = calibrator
    self.calibratorOptions = calibratorOptions
    self.algorithm = algorithm
    self.algorithmOptions = algorithmOptions
  }

  private enum CodingKeys: String, CodingKey {
    case enable, format, narrowRange, axis, blockSize, dynamic, passThroughSTE, calibrator, calibratorOptions,
      algorithm, algorithmOptions
  }

  /// Decodes, filling absent keys with defaults.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = QuantizerAttributes()
    enable = try c.decodeIfPresent(Bool.self, forKey: .enable) ?? d.enable
    format = try c.decodeIfPresent(QuantFormat.self, forKey: .format) ?? d.format
    narrowRange = try c.decodeIfPresent(Bool.self, forKey: .narrowRange) ?? d.narrowRange
    axis = try c.decodeIfPresent(Int.self, forKey: .axis)
    blockSize = try c.decodeIfPresent(Int.self, forKey: .blockSize)
    dynamic = try c.decodeIfPresent(Bool.self, forKey: .dynamic) ?? d.dynamic
    passThroughSTE = try c.decodeIfPresent(Bool.self, forKey: .passThroughSTE) ?? d.passThroughSTE
    calibrator = try c.decodeIfPresent(String.self, forKey: .calibrator) ?? d.calibrator
    calibratorOptions = try c.decodeIfPresent(JSONValue.self, forKey: .calibratorOptions)
    algorithm = try c.decodeIfPresent(String.self, forKey: .algorithm) ?? d.algorithm
    algorithmOptions = try c.decodeIfPresent(JSONValue.self, forKey: .algorithmOptions)
  }

  /// Encodes every key; unset optional ones as `null`, so strict decoding can list every
  /// key in its "known keys" message.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(enable, forKey: .enable)
    try c.encode(format, forKey: .format)
    try c.encode(narrowRange, forKey: .narrowRange)
    try c.encode(axis, forKey: .axis)
    try c.encode(blockSize, forKey: .blockSize)
    try c.encode(dynamic, forKey: .dynamic)
    try c.encode(passThroughSTE, forKey: .passThroughSTE)
    try c.encode(calibrator, forKey: .calibrator)
    try c.encode(calibratorOptions, forKey: .calibratorOptions)
    try c.encode(algorithm, forKey: .algorithm)
    try c.encode(algorithmOptions, forKey: .algorithmOptions)
  }
}

/// How a quantizer's range is shared over a tensor.
public enum QuantGranularity: Hashable, Sendable, CustomStringConvertible {
  /// One range for the whole tensor.
  case perTensor
  /// One range per index along `axis` (normalized to `0..<rank` when applied).
  case perChannel(axis: Int)
  /// One range per block of `size` consecutive elements of the last axis.
  case perBlock(size: Int)

  /// `per-tensor`, `per-channel(axis 0)`, `per-block(16)`.
  public var description: String {
    switch self {
    case .perTensor: "per-tensor"
    case .perChannel(let a): "per-channel(axis \(a))"
    case .perBlock(let s): "per-block(\(s))"
    }
  }
}

extension QuantizerAttributes {
  // MARK: Presets of single quantizers

  /// Integer quantizer: `bits` wide, per-tensor unless `axis` or `blockSize` is given.
  public static func int(
    _ bits: Int, signed: Bool = true, axis: Int? = nil, blockSize: Int? = nil, dynamic: Bool = false,
    calibrator: String = "max"
  ) -> QuantizerAttributes {
    QuantizerAttributes(
      format: .int(bits: bits, signed: signed), axis: axis, blockSize: blockSize, dynamic: dynamic,
      calibrator: calibrator)
  }

  /// A disabled quantizer (kept in its slot, the identity).
  public static var disabled: QuantizerAttributes { QuantizerAttributes(enable: false) }

  /// The granularity implied by `axis` / `blockSize` / the format's block size.
  public var granularity: QuantGranularity {
    if let b = effectiveBlockSize { return .perBlock(size: b) }
    if let a = axis { return .perChannel(axis: a) }
    return .perTensor
  }

  /// `blockSize`, or the format's own block size (16 for NVFP4, 32 for MX).
  public var effectiveBlockSize: Int? { blockSize ?? format.defaultBlockSize }

  /// Whether the quantizer needs a calibrated range (static and the format has a range).
  public var needsCalibration: Bool { enable && !dynamic && format.usesAmax }

  /// Checks the attributes on their own (bits, combinations), without a tensor shape.
  ///
  /// - Parameter path: The quantizer path, used in error messages (`fc1.weight_quantizer`).
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` naming `path` and the key.
  public func validate(path: String) throws {
    func fail(_ key: String, _ message: String) -> ConfigError {
      ConfigError.invalidValue("quantize config", path: path.isEmpty ? key : "\(path).\(key)", message)
    }
    if case .int(let b, _) = format, !(2...8).contains(b) {
      throw fail("format", "integer width \(b) bits is out of range 2…8")
    }
    if narrowRange, !format.isInteger {
      throw fail("narrowRange", "narrow range applies to integer formats, not \(format)")
    }
    if axis != nil, blockSize != nil {
      throw fail("axis", "axis (per-channel) and blockSize (per-block) are mutually exclusive")
    }
    if let b = blockSize, b < 1 {
      throw fail("blockSize", "block size must be positive, got \(b)")
    }
    if format.isBlockScaled {
      if axis != nil {
        throw fail("axis", "\(format) is block-scaled and has no per-channel form; remove axis")
      }
      if format != .nvfp4, let b = blockSize, b != 32 {
        throw fail("blockSize", "\(format) uses blocks of 32 (OCP MX), got \(b)")
      }
      if calibrator != "max" {
        throw fail("calibrator", "\(format) only supports the max calibrator (its block scales come from the data)")
      }
      if !format.usesAmax, !passThroughSTE {
        throw fail("passThroughSTE", "\(format) has no range to clip at; it uses the pass-through STE")
      }
    }
  }

  /// Checks the attributes against the shape of the tensor the quantizer will see; unknown
  /// dimensions (`nil`) are skipped.
  ///
  /// - Parameters:
  ///   - rank: The tensor's rank, if known.
  ///   - lastDim: The size of the last axis, if known.
  ///   - shape: The full shape (a weight), if known; implies `rank` and `lastDim`.
  public func validate(path: String, shape: [Int]?, rank: Int? = nil, lastDim: Int? = nil) throws {
    try validate(path: path)
    let rank = shape?.count ?? rank
    let lastDim = shape?.last ?? lastDim
    func fail(_ key: String, _ message: String) -> ConfigError {
      ConfigError.invalidValue("quantize config", path: "\(path).\(key)", message)
    }
    if let a = axis, let rank, !(-rank..<rank).contains(a) {
      throw fail("axis", "axis \(a) is out of range for a tensor of rank \(rank)\(shape.map { " (shape \($0))" } ?? "")")
    }
    if let b = effectiveBlockSize, let lastDim, lastDim % b != 0 {
      throw fail(
        "blockSize",
        "block size \(b) does not divide the last dimension \(lastDim)\(shape.map { " of shape \($0)" } ?? "")")
    }
  }
}
