/// The `quantize` mode (ModelOpt's `mtq.quantize`): inserts fake quantizers into layer slots
/// by wildcard rules, calibrates their ranges with a forward loop, and records everything
/// needed to rebuild them on a fresh model.
///
/// - `validate` checks the whole config against the model (pattern matches, bits, block
///   sizes against the actual weights and the widths a layer fixes for its activations, axes,
///   format/granularity combinations, no static range on the batch axis) without changing it;
///   `convert` also checks the algorithm and calibrator names and the forward loop before it
///   touches the model. When a forward loop is given, it runs once (calibrating the static
///   activation ranges) and every new activation quantizer is checked against the shapes that
///   actually reach it; if calibration or a check fails, the old slots are put back.
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
      try checkSlot(attrs, path: path, module: module, slot: slot, parameter: param)
      if let environment {
        _ = try environment.quantizerFactory(attrs.algorithm, path: path)
        if attrs.needsCalibration { _ = try environment.calibratorFactory(attrs.calibrator, path: path) }
      }
      out.append(Planned(path: path, module: module, slot: slot, attributes: attrs, parameter: param))
    }
    return out
  }

  /// Checks `attrs` for `slot` of `module`, identically for a config (`convert`) and a saved
  /// record (`restore`): against the parameter's shape for weight quantizers; for activation
  /// quantizers against what the layer fixes (``knownLastDim(of:slot:)``), and a static range
  /// may be neither per block (the shape varies) nor per channel on axis 0 (the batch axis:
  /// the number of ranges would change with the batch size).
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` naming `path` and the key.
  package static func checkSlot(
    _ attrs: QuantizerAttributes, path: String, module: Module, slot: String, parameter: Tensor?
  ) throws {
    if let parameter {
      try attrs.validate(path: path, shape: parameter.shape)
      return
    }
    try attrs.validate(path: path, shape: nil, lastDim: knownLastDim(of: module, slot: slot))
    guard attrs.enable, !attrs.dynamic else { return }
    if attrs.blockSize != nil, !attrs.format.isBlockScaled {
      throw ConfigError.invalidValue(
        "quantize config", path: "\(path).blockSize",
        "static per-block ranges need a fixed shape; make this activation quantizer dynamic or per-tensor")
    }
    if attrs.axis == 0 {
      throw batchAxisError(path: path)
    }
  }

  private static func batchAxisError(path: String) -> ConfigError {
    ConfigError.invalidValue(
      "quantize config", path: "\(path).axis",
      "axis 0 is the batch axis of this activation: a static range per batch row breaks as soon as the batch size changes; use a feature axis (e.g. -1) or make the quantizer dynamic")
  }

  /// The size of the last axis of the tensors `slot` of `module` sees, where the layer fixes it:
  /// `Linear` inputs (`inFeatures`) and outputs (`outFeatures`), `Embedding` outputs.
  package static func knownLastDim(of module: Module, slot: String) -> Int? {
    switch (module, slot) {
    case (let l as Linear, "input_quantizer"): l.inFeatures
    case (let l as Linear, "output_quantizer"): l.outFeatures
    case (let e as Embedding, "output_quantizer"): e.weight.shape.last
    default: nil
    }
  }

  /// Builds the quantizer at `path` with the factory of its algorithm. A ``ConfigError`` from
  /// the factory names a key of the attributes (`algorithmOptions.treshold`, `format`); it is
  /// reported under the quantizer's path (`fc1.weight_quantizer.algorithmOptions.treshold`), and
  /// so is ``QuantizerError/unsupportedFormat(algorithm:format:reason:)``
  /// (`fc1.weight_quantizer.format`, with the algorithm's reason).
  package static func makeQuantizer(
    _ attributes: QuantizerAttributes, path: String, environment: QuantizationEnvironment
  ) throws -> any Quantizer {
    let factory = try environment.quantizerFactory(attributes.algorithm, path: path)
    do { return try factory(attributes) } catch let e as ConfigError {
      throw e.prefixed(path, context: "quantize config")
    } catch let e as QuantizerError {
      guard case .unsupportedFormat = e else { throw e }
      throw ConfigError.invalidValue("quantize config", path: path.isEmpty ? "format" : "\(path).format", "\(e)")
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
    // The loop runs when activation ranges need calibrating or, if the caller gave one, to check
    // every new activation quantizer against the shapes that really reach it.
    let checkedActivations = built.filter { $0.0.parameter == nil && $0.1.isEnabled }
    guard let loop, !activations.isEmpty || !checkedActivations.isEmpty else { return }
    // Data-parallel: every rank observes its shard; the statistics combine before the ranges.
    let distributed = try distributedCalibrators(activations, communicator: communicator)
    let wasTraining = model.training
    // Every other quantizer observes nothing and stays the identity during calibration; its
    // input shapes are still checked.
    let others = built.filter { b in b.1.isEnabled && !activations.contains { $0.0.path == b.0.path } }.map(\.1)
    for q in others { q.isEnabled = false }
    for (_, q, cal) in activations { q.beginCalibration(cal!) }
    if let communicator { for c in distributed { c.beginDistributed(communicator) } }
    model.eval()
    defer {
      model.train(wasTraining)
      for q in others { q.isEnabled = true }
    }
    let check = ForwardCheck(alsoChecking: others)
    do {
      try Tensor.withoutGrad { try check.run { try loop(model) } }
    } catch {
      for (_, q, _) in activations { try? q.endCalibration() }
      throw QuantizerError.calibrationFailed(path: "<forward loop>", "\(error)")
    }
    // Every rank takes part in the reduction before any rank can stop on a shape problem.
    if let communicator {
      do {
        for c in distributed { try c.reduce(over: communicator) }
      } catch {
        for (_, q, _) in activations { try? q.endCalibration() }
        throw error
      }
    }
    // Shapes seen in the loop: the config against them (naming the key), then anything else
    // the quantizers found.
    var firstError: (any Error)?
    for (p, q, _) in checkedActivations {
      guard let shape = check.seenShapes[ObjectIdentifier(q)] else { continue }
      do {
        try p.attributes.validate(path: p.path, shape: shape)
        if case .perChannel(let a) = p.attributes.granularity, !p.attributes.dynamic, shape.count >= 2,
          a + (a < 0 ? shape.count : 0) == 0
        {
          throw batchAxisError(path: p.path)
        }
      } catch {
        firstError = error
        break
      }
    }
    if firstError == nil { firstError = check.firstError(in: model) }
    if let firstError {
      for (_, q, _) in activations { try? q.endCalibration() }
      throw firstError
    }
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
  /// Every record is validated as `convert` validates a config, against the layer's real
  /// shapes (``checkSlot(_:path:module:slot:parameter:)``); its state shapes must be what the
  /// attributes imply for that layer (for a weight quantizer exactly the shape calibration
  /// gives it) and, when the context carries the checkpoint's tensor shapes
  /// (``SavedTensorShapesKey``), equal to the file's own tensors, which bounds every allocation
  /// by the file's size. Without them a state tensor may hold at most
  /// ``maxUncheckedStateElements`` elements.
  ///
  /// - Throws: ``ConfigError`` for metadata that does not fit the model (unknown paths,
  ///   unknown algorithm names, attributes the layer cannot take, state shapes that do not
  ///   match), ``QuantizerError`` from a quantizer that rejects its attributes.
  public static func restore(_ model: Module, config: QuantizeConfig, metadata: JSONValue, context: ModeContext) throws -> Module {
    let env = context[QuantizationEnvironmentKey.self] ?? .builtin
    let saved = context[SavedTensorShapesKey.self]
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
      let param = parameter(of: m, slot: slot)
      try checkSlot(record.attributes, path: path, module: m, slot: slot, parameter: param)
      try checkStateShapes(record.state, path: path, saved: saved)
      let q = try makeQuantizer(record.attributes, path: path, environment: env)
      do {
        try q.allocateState(shapes: record.state)
        if let param {
          do { try q.validate(inputShape: param.shape) } catch QuantizerError.incompatibleInput(_, let shape, let m) {
            throw QuantizerError.incompatibleInput(path: path, shape: shape, m)
          }
          // A disabled quantizer that was never calibrated (e.g. the embedding tables ModelOpt's
          // default configs switch off) has no range; any range it has must fit the weight.
          let uncalibratedAndDisabled = !record.attributes.enable && record.state["_amax"] == nil
          if let tq = q as? TensorQuantizer, let expected = tq.expectedAmaxShape(forInput: param.shape),
            record.state["_amax"] != expected, !uncalibratedAndDisabled
          {
            throw QuantizerError.stateMismatch(
              "a \(record.attributes.granularity) range of weight \(param.shape) has shape \(expected), the record says \(record.state["_amax"].map { "\($0)" } ?? "none")")
          }
        } else if let tq = q as? TensorQuantizer {
          try tq.validateActivationState(lastDim: knownLastDim(of: m, slot: slot))
        }
      } catch {
        throw ConfigError.invalidValue("quantize metadata", path: "\(path).state", "\(error)")
      }
      built.append((m, slot, q))
    }
    for (m, slot, q) in built { m.setQuantizer(q, slot: slot) }
    return model
  }

  /// The largest state tensor ``restore(_:config:metadata:context:)`` allocates when the context
  /// does not carry the checkpoint's tensor shapes: 2^24 elements (64 MiB).
  public static let maxUncheckedStateElements = 1 << 24

  /// Recorded state shapes: no negative dimension, no overflow, and equal to the file's tensors
  /// (or at most ``maxUncheckedStateElements`` elements without them).
  private static func checkStateShapes(_ state: [String: [Int]], path: String, saved: [String: [Int]]?) throws {
    func fail(_ name: String, _ message: String) -> ConfigError {
      ConfigError.invalidValue("quantize metadata", path: "\(path).state.\(name)", message)
    }
    for name in state.keys.sorted() {
      let shape = state[name]!
      guard shape.count <= 8, shape.allSatisfy({ $0 >= 0 }) else {
        throw fail(name, "\(shape) is not a tensor shape (dimensions >= 0, rank <= 8)")
      }
      var count = 1
      for d in shape {
        let (p, overflow) = count.multipliedReportingOverflow(by: d)
        guard !overflow else { throw fail(name, "the element count of \(shape) overflows") }
        count = p
      }
      if let saved {
        guard let fileShape = saved["\(path).\(name)"] else {
          throw fail(name, "the checkpoint has no tensor '\(path).\(name)' for this state")
        }
        guard fileShape == shape else {
          throw fail(name, "the record says \(shape) but the checkpoint's tensor '\(path).\(name)' is \(fileShape)")
        }
      } else if count > maxUncheckedStateElements {
        throw fail(name, "\(shape) holds \(count) elements, more than \(maxUncheckedStateElements)")
      }
    }
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
