import QATKit

/// ModelOpt's quantization configs as they apply to a BERT encoder, by name.
///
/// Each recipe is the QATKit preset with ModelOpt's meaning (`*weight_quantizer` and
/// `*input_quantizer` rules: Linear layers, the pooler and — as in ModelOpt, whose
/// `QuantLayerNorm` has an input quantizer — the LayerNorm inputs), plus the rule of ModelOpt's
/// default configs that disables embedding tables (`{"quantizer_name": "*", "parent_class":
/// "nn.Embedding", "enable": false}`, written here as the path rule `*_embeddings.*`).
public enum BertQuantization {
  /// A named configuration.
  public enum Recipe: String, CaseIterable, Sendable {
    /// `INT8_DEFAULT_CFG`: W8 per-channel, A8 per-tensor, LayerNorm inputs quantized too.
    case int8 = "int8"
    /// `INT8_DEFAULT_CFG` plus `{"quantizer_name": "*LayerNorm*", "enable": false}`.
    case int8NoLayerNorm = "int8_no_ln"
    /// `INT8_WEIGHT_ONLY_CFG`: W8 per-channel.
    case int8WeightOnly = "int8_weight_only"
    /// `INT4_BLOCKWISE_WEIGHT_ONLY_CFG`: W4 in blocks of 128 along the input axis.
    case int4WeightOnly = "int4_block128_weight_only"
    /// `FP8_DEFAULT_CFG`: E4M3 per-tensor weights and activations.
    case fp8 = "fp8"
    /// `NVFP4_DEFAULT_CFG`: NVFP4 weights and activations (blocks of 16, dynamic block scales).
    case nvfp4 = "nvfp4"
    /// `MXFP4_DEFAULT_CFG`: MXFP4 weights and activations (blocks of 32).
    case mxfp4 = "mxfp4"
    /// W4A8 as ModelOpt's `W4A8_AWQ_BETA_CFG` without AWQ: INT4 weights in blocks of 128 and
    /// FP8 E4M3 per-tensor activations (LayerNorm inputs included). ModelOpt's weight quantizer
    /// adds a second, per-tensor FP8 stage on the INT4 values, left out here.
    case w4a8 = "w4a8"
    /// `FP8_DEFAULT_CFG` with the LayerNorm input quantizers off (`*LayerNorm*`), as
    /// ``int8NoLayerNorm``: the quantizers the unified checkpoint holds (FP8 Linear weights and
    /// inputs), so the model exports to it.
    case fp8NoLayerNorm = "fp8_no_ln"
    /// `NVFP4_DEFAULT_CFG` with the LayerNorm input quantizers off (exports to unified `NVFP4`).
    case nvfp4NoLayerNorm = "nvfp4_no_ln"
    /// `MXFP4_DEFAULT_CFG` with the LayerNorm input quantizers off (exports to unified `mxfp4`).
    case mxfp4NoLayerNorm = "mxfp4_no_ln"
    /// ``w4a8`` with the LayerNorm input quantizers off (exports to ONNX: INT4 blocks at opset
    /// 21, FP8 activations at opset 19; the unified format's W4A8_AWQ needs ModelOpt's second
    /// FP8 weight stage, which this recipe does not train with).
    case w4a8NoLayerNorm = "w4a8_no_ln"

    /// The recipes `qatkit-run minilm` runs without `--configs`: ModelOpt's configs and
    /// ``int8NoLayerNorm`` (the other `_no_ln` variants are for export; give them by name).
    public static let standard: [Recipe] = [.int8, .int8NoLayerNorm, .int8WeightOnly, .int4WeightOnly, .fp8, .nvfp4, .mxfp4, .w4a8]

    /// Whether the recipe disables the LayerNorm input quantizers (`*LayerNorm*` off).
    public var disablesLayerNormInputs: Bool {
      switch self {
      case .int8NoLayerNorm, .fp8NoLayerNorm, .nvfp4NoLayerNorm, .mxfp4NoLayerNorm, .w4a8NoLayerNorm: true
      default: false
      }
    }

    /// The ModelOpt config this recipe mirrors, for tables.
    public var modelOptName: String {
      switch self {
      case .int8: "INT8_DEFAULT_CFG"
      case .int8NoLayerNorm: "INT8_DEFAULT_CFG, *LayerNorm* off"
      case .int8WeightOnly: "INT8_WEIGHT_ONLY_CFG"
      case .int4WeightOnly: "INT4_BLOCKWISE_WEIGHT_ONLY_CFG"
      case .fp8: "FP8_DEFAULT_CFG"
      case .nvfp4: "NVFP4_DEFAULT_CFG"
      case .mxfp4: "MXFP4_DEFAULT_CFG"
      case .w4a8: "W4A8_AWQ_BETA_CFG without AWQ"
      case .fp8NoLayerNorm: "FP8_DEFAULT_CFG, *LayerNorm* off"
      case .nvfp4NoLayerNorm: "NVFP4_DEFAULT_CFG, *LayerNorm* off"
      case .mxfp4NoLayerNorm: "MXFP4_DEFAULT_CFG, *LayerNorm* off"
      case .w4a8NoLayerNorm: "W4A8_AWQ_BETA_CFG without AWQ, *LayerNorm* off"
      }
    }

    /// Whether some quantizers have integer formats (learned LSQ ranges apply to those).
    public var hasIntegerQuantizers: Bool {
      switch self {
      case .int8, .int8NoLayerNorm, .int8WeightOnly, .int4WeightOnly, .w4a8, .w4a8NoLayerNorm: true
      case .fp8, .nvfp4, .mxfp4, .fp8NoLayerNorm, .nvfp4NoLayerNorm, .mxfp4NoLayerNorm: false
      }
    }

    /// Whether activations are quantized to an integer format.
    public var hasIntegerActivations: Bool { self == .int8 || self == .int8NoLayerNorm }

    /// Whether activations are quantized.
    public var quantizesActivations: Bool {
      switch self {
      case .int8WeightOnly, .int4WeightOnly: false
      default: true
      }
    }

    /// The recipe called `name` (its raw value).
    ///
    /// - Throws: ``TransformersError/invalidInput(_:)`` listing the names.
    public init(named name: String) throws {
      guard let r = Recipe(rawValue: name) else {
        throw TransformersError.invalidInput(
          "unknown recipe '\(name)'; recipes: \(Recipe.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      self = r
    }
  }

  /// The `quantize` config of `recipe`.
  ///
  /// - Parameters:
  ///   - calibrator: The calibrator of every calibrated quantizer (`"max"` is ModelOpt's).
  ///   - activationCalibrator: Overrides `calibrator` for activation quantizers.
  ///   - learnedRanges: Use the LSQ plugin's learned ranges (algorithm `"lsq"`) for the
  ///     integer-format quantizers (the registry must have `LSQPlugin`); others keep theirs.
  public static func config(
    _ recipe: Recipe, calibrator: String = "max", activationCalibrator: String? = nil, learnedRanges: Bool = false
  ) -> QuantizeConfig {
    var weights: QuantizerAttributes
    var activations: QuantizerAttributes?
    switch recipe {
    case .int8, .int8NoLayerNorm:
      weights = .int(8, axis: 0)
      activations = .int(8)
    case .int8WeightOnly:
      weights = .int(8, axis: 0)
    case .int4WeightOnly:
      weights = .int(4, blockSize: 128)
    case .w4a8, .w4a8NoLayerNorm:
      weights = .int(4, blockSize: 128)
      activations = QuantizerAttributes(format: .e4m3)
    case .fp8, .fp8NoLayerNorm:
      weights = QuantizerAttributes(format: .e4m3)
      activations = QuantizerAttributes(format: .e4m3)
    case .nvfp4, .nvfp4NoLayerNorm:
      weights = QuantizerAttributes(format: .nvfp4)
      activations = QuantizerAttributes(format: .nvfp4)
    case .mxfp4, .mxfp4NoLayerNorm:
      weights = QuantizerAttributes(format: .mxfp4)
      activations = QuantizerAttributes(format: .mxfp4)
    }
    weights.calibrator = calibrator
    activations?.calibrator = activationCalibrator ?? calibrator
    if learnedRanges {
      if weights.format.isInteger { weights.algorithm = "lsq" }
      if activations?.format.isInteger == true { activations?.algorithm = "lsq" }
    }
    var config = QuantizeConfig.weightsAndActivations(weights: weights, activations: activations)
    // ModelOpt's default configs disable nn.Embedding quantizers.
    config = config.setting("*_embeddings.*", enabled: false, optional: true)
    if recipe.disablesLayerNormInputs { config = config.setting("*LayerNorm*", enabled: false) }
    return config
  }
}
