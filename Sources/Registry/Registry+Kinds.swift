import QATKit

/// A criterion factory from a JSON spec.
public typealias CriterionFactory = @Sendable (JSONValue) throws -> any Criterion
/// A loss-balancer factory from a JSON spec.
public typealias BalancerFactory = @Sendable (JSONValue) throws -> any LossBalancer

/// Quantizable-layer mapping: a layer type's quantizer slots.
public struct LayerMapping: Sendable, Equatable {
  /// `String(describing:)` of the layer type.
  public let typeName: String
  /// Slots its forward pass applies.
  public let slots: [String]
}

extension Registry {
  /// Registers a quantizer (QAT algorithm) selected by `"algorithm": name` in quantize configs.
  public mutating func register(quantizer name: String, summary: String, factory: @escaping QuantizerFactory) throws {
    try register(.quantizer, name: name, summary: summary, value: factory)
  }

  /// Registers a calibrator selected by `"calibrator": name` in quantize configs.
  public mutating func register(calibrator name: String, summary: String, factory: @escaping CalibratorFactory) throws {
    try register(.calibrator, name: name, summary: summary, value: factory)
  }

  /// Registers a distillation criterion kind, built from JSON specs `{"kind": name, ...}`.
  public mutating func register(criterion name: String, summary: String, factory: @escaping CriterionFactory) throws {
    try register(.criterion, name: name, summary: summary, value: factory)
  }

  /// Registers a loss-balancer kind, built from JSON specs `{"kind": name, ...}`.
  public mutating func register(balancer name: String, summary: String, factory: @escaping BalancerFactory) throws {
    try register(.balancer, name: name, summary: summary, value: factory)
  }

  /// Registers a calibration algorithm selected by a quantize config's `"algorithm": name` (or
  /// `{"method": name, ...options}`); the factory receives the options object.
  public mutating func register(algorithm name: String, summary: String, factory: @escaping CalibrationAlgorithmFactory) throws {
    try register(.algorithm, name: name, summary: summary, value: factory)
  }

  /// Registers the quantizer slots of a layer type whose class does not declare them (its
  /// forward pass must call `Module.quantize(_:slot:)` with these names).
  public mutating func register(layer type: Module.Type, slots: [String], summary: String? = nil) throws {
    let name = String(describing: type)
    try register(.layer, name: name, summary: summary ?? "slots: \(slots.joined(separator: ", "))",
      value: LayerMapping(typeName: name, slots: slots))
  }

  /// A criterion from a JSON spec whose `kind` names a registered criterion.
  ///
  /// - Throws: ``ConfigError`` with paths inside the spec: `kind` when it is missing or not
  ///   registered (listing the registered kinds and the nearest), or the criterion's own error.
  public func makeCriterion(_ spec: JSONValue) throws -> any Criterion {
    try lookup(spec: spec, kind: .criterion, as: CriterionFactory.self)(spec)
  }

  /// A balancer from a JSON spec whose `kind` names a registered balancer.
  ///
  /// - Throws: ``ConfigError`` as ``makeCriterion(_:)``.
  public func makeBalancer(_ spec: JSONValue) throws -> any LossBalancer {
    try lookup(spec: spec, kind: .balancer, as: BalancerFactory.self)(spec)
  }

  /// The factory named by `spec["kind"]`, with errors as config errors at `kind`.
  private func lookup<T>(spec: JSONValue, kind: Kind, as type: T.Type) throws -> T {
    let context = "\(kind.rawValue) spec"
    guard case .object = spec else { throw ConfigError.wrongType(context, path: "", expected: "a JSON object with a \"kind\"") }
    guard case .string(let name)? = spec["kind"] else {
      throw ConfigError.missingKey(context, path: "kind")
    }
    do { return try lookup(kind, name, as: T.self) } catch let RegistryError.unknownName(_, _, known, suggestion) {
      throw ConfigError.invalidValue(
        context, path: "kind",
        "unknown \(kind.rawValue) '\(name)'" + (suggestion.map { " (did you mean '\($0)'?)" } ?? "")
          + "; registered: \(known.joined(separator: ", ")) (plugins add more: register the plugin, or qatkit-run --plugin)")
    }
  }

  /// The quantization environment the `quantize` mode sees: every registered quantizer,
  /// calibrator and layer mapping.
  public var quantizationEnvironment: QuantizationEnvironment {
    QuantizationEnvironment(
      quantizers: table(.quantizer, as: QuantizerFactory.self),
      calibrators: table(.calibrator, as: CalibratorFactory.self),
      layerSlots: table(.layer, as: LayerMapping.self).mapValues(\.slots),
      algorithms: table(.algorithm, as: CalibrationAlgorithmFactory.self))
  }
}

extension Registry {
  /// The quantizer algorithms and calibrators of `model` that plugins (not QATKit) provide.
  func pluginRequirements(of model: Module) -> [PluginRequirement] {
    var out: [PluginRequirement] = []
    for (_, q) in model.namedQuantizers() {
      for (kind, name) in [(Kind.quantizer, q.attributes.algorithm), (.calibrator, q.attributes.calibrator)] {
        guard let e = entry(kind, name), e.plugin != "QATKit" else { continue }
        let req = PluginRequirement(kind: kind, name: name, plugin: e.plugin)
        if !out.contains(req) { out.append(req) }
      }
    }
    return out
  }
}
