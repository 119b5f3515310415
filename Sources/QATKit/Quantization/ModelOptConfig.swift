/// A quantization config brought from ModelOpt (or written for QATKit): ModelOpt's JSON form
/// of `mtq.quantize` configs, QATKit's own ``QuantizeConfig`` JSON, or a preset name, turned
/// into a ``QuantizeConfig`` for a given model.
///
/// ModelOpt's form (0.44+ list form):
///
/// ```json
/// {"quant_cfg": [
///    {"quantizer_name": "*", "enable": false},
///    {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "block_sizes": {"-1": 128, "type": "static"}}},
///    {"quantizer_name": "*input_quantizer", "cfg": {"num_bits": [4, 3], "axis": null}},
///    {"quantizer_name": "*", "parent_class": "nn.Embedding", "enable": false}],
///  "algorithm": "max"}
/// ```
///
/// What each ModelOpt key becomes:
///
/// | ModelOpt | QATKit |
/// |---|---|
/// | `num_bits: n` (+ `unsigned`) | `int<n>` / `uint<n>` |
/// | `num_bits: [4, 3]` / `[5, 2]` | `e4m3` / `e5m2`; with `block_sizes {"-1": 32, "type": "dynamic", "scale_bits": [8, 0]}`: `mxfp8` |
/// | `num_bits: [2, 1]` with `{"-1": 16, "type": "dynamic", "scale_bits": [4, 3]}` / `{"-1": 32, ..., [8, 0]}` | `nvfp4` / `mxfp4` |
/// | `axis` | `axis` (one integer or `null`) |
/// | `block_sizes {"-1": n, "type": "static" / "dynamic"}` | `blockSize: n`, `dynamic` (integer and FP8 formats) |
/// | `narrow_range`, `pass_through_bwd`, `enable` | `narrowRange`, `passThroughSTE`, `enable` |
/// | `calibrator: "max"` / `"histogram"` | `max` / `entropy` (QATKit's names are accepted too) |
/// | `algorithm: "max"` / `"mse"` (`{"method": "mse", "start_multiplier", "stop_multiplier", "step_size"}`) / `null` | calibrators `max` / `mse` (options mapped) / dynamic ranges (no calibration) |
/// | `algorithm: "smoothquant"`, `"awq_lite"`, `"awq_clip"`, `"awq_full"`, `"gptq"` (or `{"method": ..., "alpha_step": ...}`) | ``QuantizeConfig/algorithm`` (registered by the plugins; options in either spelling, `debug` / `max_co_batch_size` / `fused` ignored) |
/// | `parent_class: "nn.Linear"` | the rule applies to quantizers of `Linear` layers only |
/// | `effective_bits`, `trt_high_precision_dtype` | accepted and ignored (cost model and ONNX dtype) |
///
/// Keys may be spelled either way (`quantizer_name` or `quantizerName`, `narrow_range` or
/// `narrowRange`, QATKit's `format`, `calibratorOptions`, `algorithm`, ... inside `cfg`); an
/// unknown key is an error naming its key path and the nearest valid key in either spelling.
/// Features QATKit does not have are errors that say so: sequential quantizers (a list as
/// `cfg`), rotation, bias, custom backends, per-token blocks (`{"-1": null}`), static NVFP4
/// block scales, FP6. Algorithm names other than max and mse are checked when the `quantize`
/// mode runs, against the registry's calibration algorithms.
///
/// ModelOpt ignores rules that match nothing; here a rule that only switches quantizers off
/// may match nothing, while a rule with a `cfg` must match a quantizer (a typo in a pattern is
/// an error listing the model's quantizer paths).
public struct ModelOptConfig: Sendable, Equatable {
  /// One rule.
  public struct Entry: Sendable, Equatable {
    /// The wildcard over quantizer paths.
    public var quantizerName: String
    /// The layer class the quantizer must belong to (`nn.Linear`, `Linear`), if any.
    public var parentClass: String?
    /// Attributes for the matched quantizers.
    public var cfg: QuantizerAttributes?
    /// Switches matched quantizers on or off.
    public var enable: Bool?
    /// Whether the rule may match nothing.
    public var optional: Bool
  }

  /// The calibration algorithm (`"algorithm"`).
  public enum Algorithm: Sendable, Equatable {
    /// Each quantizer's own calibrator (ModelOpt's `max`).
    case max
    /// The MSE range search on every calibrated integer / FP8 quantizer, with its options.
    case mse(MSECalibrator.Options)
    /// No calibration: ranges come from each input (ModelOpt's `null`).
    case none
    /// A registered ``CalibrationAlgorithm`` (`smoothquant`, `awq_lite`, `awq_clip`, `awq_full`,
    /// `gptq` from the plugins), carried into ``QuantizeConfig/algorithm``; its options are
    /// checked when the `quantize` mode builds it.
    case calibration(CalibrationAlgorithmSpec)
  }

  /// The rules, in order.
  public var entries: [Entry]
  /// The calibration algorithm.
  public var algorithm: Algorithm

  /// Creates a config from rules.
  public init(entries: [Entry], algorithm: Algorithm = .max) {
    self.entries = entries
    self.algorithm = algorithm
  }

  static let context = "quant_cfg"

  /// The ModelOpt preset names this build understands (`mtq.<NAME>`).
  public static let presetNames = [
    "INT8_DEFAULT_CFG", "INT8_WEIGHT_ONLY_CFG", "INT4_BLOCKWISE_WEIGHT_ONLY_CFG", "FP8_DEFAULT_CFG",
    "NVFP4_DEFAULT_CFG", "MXFP4_DEFAULT_CFG", "MXFP8_DEFAULT_CFG", "W4A8_AWQ_BETA_CFG",
  ]

  /// A preset by name: ModelOpt's (`INT8_DEFAULT_CFG`, ...) or QATKit's (`int8`, ...; see
  /// ``QuantizePreset``).
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` for an unknown name (listing the names,
  ///   with the nearest) and for `W4A8_AWQ_BETA_CFG`, whose AWQ algorithm and sequential
  ///   INT4-then-FP8 weight quantizer QATKit does not have.
  public init(preset name: String) throws {
    if let p = QuantizePreset.allCases.first(where: { $0.name == name }) {
      self.init(qatkit: QuantizeConfig(preset: p))
      return
    }
    if name == "W4A8_AWQ_BETA_CFG" {
      throw ConfigError.invalidValue(
        "quantization preset", path: "",
        "W4A8_AWQ_BETA_CFG needs a sequential weight quantizer (INT4 blocks of 128, then FP8), which QATKit "
          + "does not have; use INT4_BLOCKWISE_WEIGHT_ONLY_CFG with \"algorithm\": \"awq_lite\" (AWQ plugin), 'w4a8' "
          + "(INT4 per-channel weights, INT8 activations) or 'int4_weight_only' with FP8 activation rules")
    }
    guard let json = Self.modelOptPreset(name) else {
      let all = Self.presetNames + QuantizePreset.allCases.map(\.name)
      throw ConfigError.invalidValue(
        "quantization preset", path: "",
        "unknown preset '\(name)'\(ParsingHelp.nearest(name, in: all).map { " (did you mean '\($0)'?)" } ?? ""); presets: \(all.joined(separator: ", "))")
    }
    try self.init(json: json)
  }

  /// Wraps a QATKit config (algorithm: each quantizer's calibrator).
  public init(qatkit config: QuantizeConfig) {
    entries = config.quantCfg.map {
      Entry(quantizerName: $0.quantizerName.text, parentClass: nil, cfg: $0.cfg, enable: $0.enable, optional: $0.optional)
    }
    algorithm = .max
  }

  /// The QATKit config for `model`: `parent_class` rules expanded into the model's quantizer
  /// paths of that layer class, and the algorithm applied to the calibrators.
  ///
  /// - Throws: ``ConfigError`` for a `cfg` rule with a parent class that matches no quantizer.
  public func quantizeConfig(for model: Module, environment: QuantizationEnvironment = .builtin) throws -> QuantizeConfig {
    var rules: [QuantizeConfig.Entry] = []
    for (i, e) in entries.enumerated() {
      let cfg = e.cfg.map(applyAlgorithm)
      guard let parent = e.parentClass else {
        rules.append(.init(e.quantizerName, cfg: cfg, enable: e.enable, optional: e.optional))
        continue
      }
      let pattern = WildcardPattern(e.quantizerName)
      var paths: [String] = []
      for (modulePath, m) in model.namedModules() where Self.classMatches(parent, m) {
        for slot in environment.slotNames(of: m) {
          let path = modulePath.isEmpty ? slot : "\(modulePath).\(slot)"
          if pattern.matches(path) { paths.append(path) }
        }
      }
      if paths.isEmpty && cfg != nil && !e.optional {
        throw ConfigError.invalidValue(
          Self.context, path: "quant_cfg[\(i)].parent_class",
          "no quantizer of a '\(parent)' layer matches '\(e.quantizerName)'; the model's quantizer paths are: "
            + environment.quantizerPaths(of: model).joined(separator: ", "))
      }
      for p in paths { rules.append(.init(p, cfg: cfg, enable: e.enable, optional: true)) }
    }
    if case .calibration(let spec) = algorithm { return QuantizeConfig(rules, algorithm: spec) }
    return QuantizeConfig(rules)
  }

  private func applyAlgorithm(_ attributes: QuantizerAttributes) -> QuantizerAttributes {
    var a = attributes
    switch algorithm {
    case .max: break
    case .mse(let options):
      if a.needsCalibration, !a.format.isBlockScaled, a.calibrator == "max" {
        a.calibrator = "mse"
        a.calibratorOptions = try? JSONValue.encoding(options)
      }
    case .none:
      if a.enable, a.format.usesAmax { a.dynamic = true }
    case .calibration: break
    }
    return a
  }

  /// Whether module `m` is of the PyTorch or QATKit class `name`.
  static func classMatches(_ name: String, _ m: Module) -> Bool {
    let own = String(describing: type(of: m))
    let bare = name.hasPrefix("nn.") ? String(name.dropFirst(3)) : name
    switch bare {
    case "BatchNorm1d", "BatchNorm2d", "BatchNorm3d": return own == "BatchNorm"
    case "MultiheadAttention": return own == "MultiHeadAttention"
    default: return own == bare
    }
  }
}
