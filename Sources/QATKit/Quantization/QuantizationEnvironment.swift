/// Builds a quantizer from its attributes (`attributes.algorithm` selects the factory).
public typealias QuantizerFactory = @Sendable (QuantizerAttributes) throws -> any Quantizer

/// Builds a calibrator from its options (`attributes.calibratorOptions`, `nil` for defaults).
public typealias CalibratorFactory = @Sendable (JSONValue?) throws -> any Calibrator

/// The named building blocks the `quantize` mode resolves: quantizer algorithms,
/// calibrators and extra quantizable layer types. ``builtin`` has the core ones; the
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

  /// Creates an environment.
  public init(
    quantizers: [String: QuantizerFactory], calibrators: [String: CalibratorFactory],
    layerSlots: [String: [String]] = [:]
  ) {
    self.quantizers = quantizers
    self.calibrators = calibrators
    self.layerSlots = layerSlots
  }

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
