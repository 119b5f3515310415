/// Builds a quantizer from its attributes (`attributes.algorithm` selects the factory).
public typealias QuantizerFactory = @Sendable (QuantizerAttributes) throws -> any Quantizer

/// Builds a calibrator from its options (`attributes.calibratorOptions`, `nil` for defaults).
public typealias CalibratorFactory = @Sendable (JSONValue?) throws -> any Calibrator

/// The named building blocks the `quantize` mode resolves: quantizer algorithms,
/// calibrators, calibration algorithms and extra quantizable layer types. ``builtin`` has the core ones; the
/// registry adds plugins' entries and passes the result through
/// ``QuantizationEnvironmentKey`` in the ``ModeContext``.
public struct QuantizationEnvironment: Sendable {
  /// Quantizer factories by algorithm name (`"static"`, plugins' `"lsq"`, ...).
  public var quantizers: [String: QuantizerFactory]
  /// Calibrator factories by name (`"max"`, `"percentile"`, `"mse"`, `"entropy"`, ...).
  public var calibrators: [String: CalibratorFactory]
  /// Quantizer slot names for layer types by type name (`String(describing: type)`), for
  /// layers that do not override ``Module/quantizerSlotNames`` (user or plugin layers).
  public var layerSlots: [String: [String]]
  /// Calibration algorithms by name (`"max"`, plugins' `"awq_lite"`, `"smoothquant"`, `"gptq"`),
  /// selected by a config's `algorithm`.
  public var algorithms: [String: CalibrationAlgorithmFactory]

  /// Creates an environment; `algorithms` always includes the built-in `"max"`.
  public init(
    quantizers: [String: QuantizerFactory], calibrators: [String: CalibratorFactory],
    layerSlots: [String: [String]] = [:], algorithms: [String: CalibrationAlgorithmFactory] = [:]
  ) {
    self.quantizers = quantizers
    self.calibrators = calibrators
    self.layerSlots = layerSlots
    self.algorithms = Self.builtinAlgorithms.merging(algorithms) { _, plugin in plugin }
  }

  /// The built-in calibration algorithm `"max"` (plain calibration, ModelOpt's default).
  public static let builtinAlgorithms: [String: CalibrationAlgorithmFactory] = [
    "max": { options in
      _ = try JSONValue.decodeOptions(options, as: NoOptions.self, context: "max algorithm options")
      return PlainCalibration()
    }
  ]

  /// The core algorithm (`"static"`: ``TensorQuantizer``) and calibrators (`"max"`,
  /// `"percentile"`, `"mse"`, `"entropy"`).
  public static let builtin = QuantizationEnvironment(
    quantizers: ["static": { try TensorQuantizer(attributes: $0) }],
    calibrators: [
      "max": { options in
        _ = try JSONValue.decodeOptions(options, as: NoOptions.self, context: "max calibrator options")
        return MaxCalibrator()
      },
      "percentile": { try PercentileCalibrator(options: JSONValue.decodeOptions($0, as: PercentileCalibrator.Options.self, context: "percentile calibrator options")) },
      "mse": { try MSECalibrator(options: JSONValue.decodeOptions($0, as: MSECalibrator.Options.self, context: "mse calibrator options")) },
      "entropy": { try EntropyCalibrator(options: JSONValue.decodeOptions($0, as: EntropyCalibrator.Options.self, context: "entropy calibrator options")) },
    ])

  /// The quantizer slot names of `module`: its class's ``Module/quantizerSlotNames`` or, if
  /// empty, the ``layerSlots`` entry for its type name.
  public func slotNames(of module: Module) -> [String] {
    let own = type(of: module).quantizerSlotNames
    return own.isEmpty ? layerSlots[String(describing: type(of: module))] ?? [] : own
  }

  /// Every quantizer path of `model` (filled or not), in module order.
  public func quantizerPaths(of model: Module) -> [String] {
    model.namedModules().flatMap { path, m in slotNames(of: m).map { path.isEmpty ? $0 : "\(path).\($0)" } }
  }

  /// The quantizer factory for `name`.
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` listing the known names with a suggestion.
  public func quantizerFactory(_ name: String, path: String) throws -> QuantizerFactory {
    if let f = quantizers[name] { return f }
    throw Self.unknown("algorithm", name, known: quantizers.keys.sorted(), path: path)
  }

  /// The calibration algorithm built from `spec`.
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` at `algorithm.method` for an unknown name
  ///   (listing the known names with a suggestion), or the factory's error with its key path
  ///   under `algorithm`.
  public func makeAlgorithm(_ spec: CalibrationAlgorithmSpec) throws -> any CalibrationAlgorithm {
    guard let factory = algorithms[spec.method] else {
      let known = algorithms.keys.sorted()
      let near = known.min { editDistance($0, spec.method) < editDistance($1, spec.method) }
      throw ConfigError.invalidValue(
        "quantize config", path: "algorithm.method",
        "unknown calibration algorithm '\(spec.method)'" + (near.map { " (did you mean '\($0)'?)" } ?? "")
          + "; known: \(known.joined(separator: ", ")) (plugins add more: register QATPlugins' AWQ, SmoothQuant or GPTQ plugin, or qatkit-run --plugin)")
    }
    do { return try factory(spec.options) } catch let e as ConfigError {
      throw e.prefixed("algorithm", context: "quantize config")
    }
  }

  /// The calibrator factory for `name`.
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` listing the known names with a suggestion.
  public func calibratorFactory(_ name: String, path: String) throws -> CalibratorFactory {
    if let f = calibrators[name] { return f }
    throw Self.unknown("calibrator", name, known: calibrators.keys.sorted(), path: path)
  }

  private static func unknown(_ kind: String, _ name: String, known: [String], path: String) -> ConfigError {
    let near = known.min { editDistance($0, name) < editDistance($1, name) }
    return ConfigError.invalidValue(
      "quantize config", path: "\(path).\(kind)",
      "unknown \(kind) '\(name)'" + (near.map { " (did you mean '\($0)'?)" } ?? "")
        + "; known: \(known.joined(separator: ", ")) (plugins add more through the registry)")
  }
}


/// The ``ModeContext`` key under which the registry passes the quantization environment.
public enum QuantizationEnvironmentKey: ModeContextKey {
  /// The environment.
  public typealias Value = QuantizationEnvironment
}
