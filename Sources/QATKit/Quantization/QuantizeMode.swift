/// The `quantize` mode (ModelOpt's `mtq.quantize`): inserts fake quantizers into layer slots
/// by wildcard rules, calibrates their ranges with a forward loop, and records everything
/// needed to rebuild them on a fresh model.
///
/// - `validate` checks the whole config against the model (pattern matches, bits, block
///   sizes against the actual weights, axes, format/granularity combinations) without
///   changing it; `convert` also checks the algorithm and calibrator names and the forward
///   loop before it touches the model, and puts the old slots back if calibration fails.
/// - Weight quantizers (slot `<param>_quantizer` of a layer with parameter `<param>`)
///   calibrate from the parameter directly; activation quantizers from
///   `context.forwardLoop`, run in evaluation mode without gradients and with every
///   quantizer observing only (ModelOpt's calibration).
/// - Metadata: per quantizer path its attributes and state shapes
///   (`{"quantizers": {"fc1.weight_quantizer": {"attributes": {...}, "state": {"_amax": [256, 1]}}}}`);
///   `restore` rebuilds the same quantizers with zero-filled state of those shapes, and the
///   state dict loaded afterwards gives identical outputs.
/// - Names resolve through `context[QuantizationEnvironmentKey.self] ?? .builtin`.
public enum QuantizeMode: Mode {
  /// The rules.
  public typealias Config = QuantizeConfig

  /// `"quantize"`.
  public static var name: String { "quantize" }
  /// One line for listings.
  public static var summary: String { "insert fake quantizers by wildcard rules and calibrate their ranges (PTQ)" }

  /// One planned quantizer.
  package struct Planned {
    package let path: String
    package let module: Module
    package let slot: String
    package let attributes: QuantizerAttributes
    /// The parameter a weight quantizer reads, if any.
    package let parameter: Tensor?
  }

  /// Metadata of one quantizer.
  package struct Record: Codable, Equatable {
    package var attributes: QuantizerAttributes
    package var state: [String: [Int]]
  }

  /// The mode's metadata.
  package struct Metadata: Codable, Equatable {
    package var quantizers: [String: Record]
    /// The calibration algorithm's report (informational; restore does not read it).
    package var algorithm: JSONValue?
  }

  /// Checks `config` against `model` with the built-in slot table (names of algorithms and
  /// calibrators are checked by `convert`, which knows the plugins).
  public static func validate(_ config: QuantizeConfig, for model: Module) throws {
    _ = try plan(config, for: model, environment: nil)
  }

  /// Resolves and validates the rules over `model`; with an environment also the names.
  package static func plan(
    _ config: QuantizeConfig, for model: Module, environment: QuantizationEnvironment?
  ) throws -> [Planned] {
    let env = environment ?? .builtin
    var slots: [(String, Module, String)] = []
    for (path, m) in model.namedModules() {
      for s in env.slotNames(of: m) { slots.append((path.isEmpty ? s : "\(path).\(s)", m, s)) }
    }
    let resolved = try config.resolve(paths: slots.map(\.0))
    var out: [Planned] = []
    for (path, module, slot) in slots {
      guard let attrs = resolved[path] else { continue }
      let param = parameter(of: module, slot: slot)
      if let param {
        try attrs.validate(path: path, shape: param.shape)
      } else {
        let lastDim = slot == "input_quantizer" ? (module as? Linear)?.inFeatures : nil
        try attrs.validate(path: path, shape: nil, lastDim: lastDim)
        if attrs.enable, !attrs.dynamic, attrs.blockSize != nil, !attrs.format.isBlockScaled {
          throw ConfigError.invalidValue(
            "quantize config", path: "\(path).blockSize",
            "static per-block ranges need a fixed shape; make this activation quantizer dynamic or per-tensor")
        }
      }
      if let environment {
        _ = try environment.quantizerFactory(attrs.algorithm, path: path)
        if attrs.needsCalibration { _ = try environment.calibratorFactory(attrs.calibrator, path: path) }
      }
      out.append(Planned(path: path, module: module, slot: slot, attributes: attrs, parameter: param))
    }
    return out
  }

  /// Builds the quantizer at `path` with the factory of its algorithm. A ``ConfigError`` from
  /// the factory names a key of the attributes (`algorithmOptions.treshold`, `format`); it is
  /// reported under the quantizer's path (`fc1.weight_quantizer.algorithmOptions.treshold`).
  package static func makeQuantizer(
    _ attributes: QuantizerAttributes, path: String, environment: QuantizationEnvironment
  ) throws -> any Quantizer {
    let factory = try environment.quantizerFactory(attributes.algorithm, path: path)
    do { return try factory(attributes) } catch let e as ConfigError {
      throw e.prefixed(path, context: "quantize config")
    }
  }

  /// The parameter a slot named `<name>_quantizer` reads (`weight_quantizer` → `weight`).
  package static func parameter(of module: Module, slot: String) -> Tensor? {
    guard slot.hasSuffix("_quantizer") else { return nil }
    let name = String(slot.dropLast("_quantizer".count))
    return module.ownParameters().first { $0.0 == name }?.1
  }

  /// Inserts and calibrates the quantizers; returns the model and metadata.
  public static func convert(_ model: Module, config: QuantizeConfig, context: ModeContext) throws -> (Module, JSONValue) {
    let env = context[QuantizationEnvironmentKey.self] ?? .builtin
    let planned = try plan(config, for: model, environment: env)
    // Build everything before touching the model.
    var built: [(Planned, any Quantizer, (any Calibrator)?)] = []
    for p in planned {
      let q = try makeQuantizer(p.attributes, path: p.path, environment: env)
      var cal: (any Calibrator)? = nil
      if q.isEnabled, q.needsCalibration {
        let factory = try env.calibratorFactory(p.attributes.calibrator, path: p.path)
        do {
          cal = try factory(p.attributes.calibratorOptions)
        } catch let e as ConfigError {
          // Calibrator factories report paths inside their options.
          throw e.prefixed("\(p.path).calibratorOptions", context: "quantize config")
        }
      }
      built.append((p, q, cal))
    }
    let needLoop = built.filter { $0.2 != nil && $0.0.parameter == nil }.map(\.0.path)
    if !needLoop.isEmpty, context.forwardLoop == nil { throw QuantizerError.missingForwardLoop(paths: needLoop) }
    let algorithm = try config.algorithm.map { try env.makeAlgorithm($0) }
    if let algorithm, !(algorithm is PlainCalibration), context.forwardLoop == nil {
      throw QuantizerError.calibrationFailed(
        path: "algorithm", "'\(config.algorithm!.method)' needs calibration data: pass a forward loop running the model over a few batches")
    }

    let previous = built.map { ($0.0.module, $0.0.slot, $0.0.module.quantizer(slot: $0.0.slot)) }
    for (p, q, _) in built { p.module.setQuantizer(q, slot: p.slot) }
    let loop = context.forwardLoop, communicator = context[CommunicatorKey.self]
    var report: JSONValue?
    var installed: [String: (Module, String)] = [:]
    do {
      if let algorithm {
        let session = CalibrationSession(
          model: model, forwardLoop: loop, communicator: communicator,
          quantizers: built.map { .init(path: $0.0.path, module: $0.0.module, slot: $0.0.slot, quantizer: $0.1, parameter: $0.0.parameter) }
        ) { weights, activations in
          try calibrate(model, built, loop: loop, communicator: communicator, weights: weights, activations: activations)
        }
        defer { installed = session.installed }
        report = try algorithm.run(session)
      } else {
        try calibrate(model, built, loop: loop, communicator: communicator)
      }
    } catch {
      for (m, s, q) in previous { m.setQuantizer(q, slot: s) }
      for (m, s) in installed.values { m.setQuantizer(nil, slot: s) }
      throw error
    }
    let paths = built.map(\.0.path) + installed.keys.sorted()
    var meta = try metadata(for: model, paths: paths).decode(Metadata.self, context: "quantize metadata")
    meta.algorithm = report
    return (model, try JSONValue.encoding(meta))
  }

  private static func calibrate(
    _ model: Module, _ built: [(Planned, any Quantizer, (any Calibrator)?)], loop: ((Module) throws -> Void)?,
    communicator: (any Communicator)?, weights doWeights: Bool = true, activations doActivations: Bool = true
  ) throws {
    let weights = built.filter { doWeights && $0.2 != nil && $0.0.parameter != nil }
    let activations = built.filter { doActivations && $0.2 != nil && $0.0.parameter == nil }
    for (p, q, cal) in weights {
      q.beginCalibration(cal!)
      _ = Tensor.withoutGrad { q(p.parameter!) }
      try end(q, path: p.path)
    }
    guard !activations.isEmpty, let loop else { return }
    // Data-parallel: every rank observes its shard; the statistics combine before the ranges.
    let distributed = try distributedCalibrators(activations, communicator: communicator)
    let wasTraining = model.training
    // Every other quantizer observes nothing and stays the identity during calibration.
    let others = built.filter { b in b.1.isEnabled && !activations.contains { $0.0.path == b.0.path } }.map(\.1)
    for q in others { q.isEnabled = false }
    for (_, q, cal) in activations { q.beginCalibration(cal!) }
    if let communicator { for c in distributed { c.beginDistributed(communicator) } }
    model.eval()
    defer {
      model.train(wasTraining)
      for q in others { q.isEnabled = true }
    }
    do {
      try Tensor.withoutGrad { try loop(model) }
    } catch {
      for (_, q, _) in activations { try? q.endCalibration() }
      throw QuantizerError.calibrationFailed(path: "<forward loop>", "\(error)")
    }
    if let communicator {
      do {
        for c in distributed { try c.reduce(over: communicator) }
      } catch {
        for (_, q, _) in activations { try? q.endCalibration() }
        throw error
      }
    }
    var firstError: (any Error)?
    for (p, q, _) in activations {
      do { try end(q, path: p.path) } catch { if firstError == nil { firstError = error } }
    }
    if let firstError { throw firstError }
  }

  /// The activation calibrators as ``DistributedCalibrator``s when `communicator` has more than
  /// one rank (empty otherwise).
  ///
  /// - Throws: ``CommunicatorError/unsupported(_:)`` naming the first calibrator that cannot
  ///   combine statistics across ranks.
  private static func distributedCalibrators(
    _ activations: [(Planned, any Quantizer, (any Calibrator)?)], communicator: (any Communicator)?
  ) throws -> [any DistributedCalibrator] {
    guard let communicator, communicator.size > 1 else { return [] }
    return try activations.map { p, _, cal in
      guard let d = cal as? any DistributedCalibrator else {
        throw CommunicatorError.unsupported(
          "\(p.path): calibrator '\(p.attributes.calibrator)' cannot combine statistics across \(communicator.size) "
            + "processes (it does not conform to DistributedCalibrator); use max, percentile, mse or entropy, or calibrate in one process")
      }
      return d
    }
  }

  private static func end(_ q: any Quantizer, path: String) throws {
    do {
      try q.endCalibration()
    } catch QuantizerError.notCalibrated {
      throw QuantizerError.notCalibrated(path: path)
    } catch let e as QuantizerError {
      throw e
    } catch {
      throw QuantizerError.calibrationFailed(path: path, "\(error)")
    }
  }

  /// The metadata of the quantizers at `paths`.
  package static func metadata(for model: Module, paths: [String]) throws -> JSONValue {
    let all = Dictionary(model.namedQuantizers(), uniquingKeysWith: { a, _ in a })
    var records: [String: Record] = [:]
    for path in paths {
      guard let q = all[path] else { continue }
      records[path] = Record(
        attributes: q.attributes,
        state: Dictionary(q.stateTensors().map { ($0.0, $0.1.shape) }, uniquingKeysWith: { a, _ in a }))
    }
    return try JSONValue.encoding(Metadata(quantizers: records))
  }

  /// Rebuilds the recorded quantizers with zero-filled state of the recorded shapes (no
  /// calibration; values come from the state dict).
  ///
  /// - Throws: ``ConfigError`` for metadata that does not fit the model (unknown paths,
  ///   unknown algorithm names), ``QuantizerError/stateMismatch(_:)`` for state shapes a
  ///   quantizer cannot take.
  public static func restore(_ model: Module, config: QuantizeConfig, metadata: JSONValue, context: ModeContext) throws -> Module {
    let env = context[QuantizationEnvironmentKey.self] ?? .builtin
    let meta = try metadata.decode(Metadata.self, context: "quantize metadata")
    let modules = Dictionary(model.namedModules(), uniquingKeysWith: { a, _ in a })
    var built: [(Module, String, any Quantizer)] = []
    for path in meta.quantizers.keys.sorted() {
      let record = meta.quantizers[path]!
      let (modulePath, slot) = splitSlotPath(path)
      guard let m = modules[modulePath], env.slotNames(of: m).contains(slot) else {
        throw ConfigError.invalidValue(
          "quantize metadata", path: path,
          "the model has no quantizer slot '\(path)'; its quantizer paths are: \(env.quantizerPaths(of: model).joined(separator: ", "))")
      }
      let q = try makeQuantizer(record.attributes, path: path, environment: env)
      try q.allocateState(shapes: record.state)
      built.append((m, slot, q))
    }
    for (m, slot, q) in built { m.setQuantizer(q, slot: slot) }
    return model
  }

  /// Re-records attributes and state shapes of the mode's quantizers.
  public static func updateForSave(_ model: Module, config: QuantizeConfig, metadata: inout JSONValue) throws {
    let meta = try metadata.decode(Metadata.self, context: "quantize metadata")
    var fresh = try self.metadata(for: model, paths: Array(meta.quantizers.keys)).decode(Metadata.self, context: "quantize metadata")
    fresh.algorithm = meta.algorithm
    metadata = try JSONValue.encoding(fresh)
  }

  /// `"a.b.weight_quantizer"` → `("a.b", "weight_quantizer")`.
  package static func splitSlotPath(_ path: String) -> (String, String) {
    guard let dot = path.lastIndex(of: ".") else { return ("", path) }
    return (String(path[..<dot]), String(path[path.index(after: dot)...]))
  }
}
