/// Named configurations with ModelOpt's meanings (`mtq.INT8_DEFAULT_CFG`, ...).
///
/// Weights are the `*weight_quantizer` slots, activations the `*input_quantizer` slots;
/// output and attention-matmul quantizers stay empty, and `*lm_head*` is disabled (an
/// optional rule), as in ModelOpt's defaults.
public enum QuantizePreset: Hashable, Sendable, CaseIterable {
  /// `INT8_DEFAULT_CFG`: INT8 weights per-channel (axis 0), INT8 activations per-tensor.
  case int8
  /// `INT8_WEIGHT_ONLY_CFG`: INT8 weights per-channel (axis 0), activations unquantized.
  case int8WeightOnly
  /// `INT4_BLOCKWISE_WEIGHT_ONLY_CFG`: INT4 weights in blocks of 128 along the input axis.
  case int4WeightOnly
  /// W4A8: INT4 weights per-channel (axis 0), INT8 activations per-tensor. (ModelOpt's
  /// `W4A8_AWQ_BETA_CFG` uses 128-blocks and FP8 activations; use
  /// ``QuantizeConfig/w4a8(blockSize:)`` for blocks.)
  case w4a8
  /// `FP8_DEFAULT_CFG`: E4M3 per-tensor weights and activations.
  case fp8
  /// `NVFP4_DEFAULT_CFG`: NVFP4 (blocks of 16, E4M3 block scales, per-tensor FP32 scale)
  /// weights and activations; activation block scales are dynamic.
  case nvfp4
  /// `MXFP4_DEFAULT_CFG`: MXFP4 (blocks of 32, E8M0 scales) weights and activations.
  case mxfp4
  /// `MXFP8_DEFAULT_CFG`: MXFP8 (E4M3 elements, blocks of 32, E8M0 scales).
  case mxfp8

  /// The name used by recipes and the command line (`"int8"`, `"int4_weight_only"`, ...).
  public var name: String {
    switch self {
    case .int8: "int8"
    case .int8WeightOnly: "int8_weight_only"
    case .int4WeightOnly: "int4_weight_only"
    case .w4a8: "w4a8"
    case .fp8: "fp8"
    case .nvfp4: "nvfp4"
    case .mxfp4: "mxfp4"
    case .mxfp8: "mxfp8"
    }
  }

  /// The preset called `name`.
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` listing the names, with a suggestion.
  public init(named name: String) throws {
    if let p = Self.allCases.first(where: { $0.name == name }) {
      self = p
      return
    }
    let names = Self.allCases.map(\.name)
    let near = names.min { editDistance($0, name) < editDistance($1, name) } ?? ""
    throw ConfigError.invalidValue(
      "quantize preset", path: "", "unknown preset '\(name)' (did you mean '\(near)'?); presets: \(names.joined(separator: ", "))")
  }
}

extension QuantizeConfig {
  /// The rules of a preset.
  public init(preset: QuantizePreset) {
    switch preset {
    case .int8:
      self = .weightsAndActivations(weights: .int(8, axis: 0), activations: .int(8))
    case .int8WeightOnly:
      self = .weightsAndActivations(weights: .int(8, axis: 0), activations: nil)
    case .int4WeightOnly:
      self = .weightsAndActivations(weights: .int(4, blockSize: 128), activations: nil)
    case .w4a8:
      self = .w4a8(blockSize: nil)
    case .fp8:
      self = .weightsAndActivations(weights: QuantizerAttributes(format: .e4m3), activations: QuantizerAttributes(format: .e4m3))
    case .nvfp4:
      self = .weightsAndActivations(
        weights: QuantizerAttributes(format: .nvfp4), activations: QuantizerAttributes(format: .nvfp4))
    case .mxfp4:
      self = .weightsAndActivations(
        weights: QuantizerAttributes(format: .mxfp4), activations: QuantizerAttributes(format: .mxfp4))
    case .mxfp8:
      self = .weightsAndActivations(
        weights: QuantizerAttributes(format: .mxfp8), activations: QuantizerAttributes(format: .mxfp8))
    }
  }

  /// W4A8 with INT4 weights per-channel (`blockSize == nil`) or in blocks of the last axis,
  /// and INT8 per-tensor activations.
  public static func w4a8(blockSize: Int?) -> QuantizeConfig {
    .weightsAndActivations(
      weights: blockSize.map { .int(4, blockSize: $0) } ?? .int(4, axis: 0), activations: .int(8))
  }

  /// Rules for `*weight_quantizer` and `*input_quantizer` (`nil` leaves those slots empty),
  /// plus ModelOpt's optional `*lm_head*` disable.
  public static func weightsAndActivations(
    weights: QuantizerAttributes?, activations: QuantizerAttributes?
  ) -> QuantizeConfig {
    var rules: [Entry] = []
    if let weights { rules.append(Entry("*weight_quantizer", cfg: weights)) }
    if let activations { rules.append(Entry("*input_quantizer", cfg: activations)) }
    rules.append(Entry("*lm_head*", enable: false, optional: true))
    return QuantizeConfig(rules)
  }
}
