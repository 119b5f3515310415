import QATKit

/// Applies an ordered list of modes to `model` and returns the converted model.
///
/// The whole chain is checked first: every name resolves, every config decodes strictly
/// (unknown keys name their key path), each mode may follow the previous one (including the
/// modes already in the model's history), export modes close the mode that awaits them, and
/// each mode validates its config against the model. Only then are the modes applied in
/// order, each recorded as `(name, config, metadata)` in `Module.modeHistory`. If any mode
/// throws, the caller's model is restored exactly as it was and the error says which mode
/// failed.
///
/// - Parameters:
///   - model: The model to convert (changed in place by most modes).
///   - modes: The steps, typed (`.quantize(config)`) or by name (`.named("quantize", json)`).
///   - registry: Where names resolve; `.builtin` has the core modes.
///   - forwardLoop: Runs the model over calibration batches (needed by `quantize` for
///     activation ranges).
///   - communicator: The ranks of a data-parallel job, each running `convert` with its own
///     shard of the calibration data in `forwardLoop`: `quantize` then combines every rank's
///     statistics before computing ranges (see `DistributedCalibrator`). `nil`: one process.
/// - Returns: The converted model (a new wrapper for modes such as `kd_loss`).
@discardableResult
public func convert(
  _ model: Module, modes: [ModeStep], registry: Registry = .builtin,
  forwardLoop: ((Module) throws -> Void)? = nil, communicator: (any Communicator)? = nil
) throws -> Module {
  // 1. Resolve and decode everything.
  var resolved: [(AnyModeType, Any)] = []
  for (i, step) in modes.enumerated() {
    switch step.payload {
    case .typed(let m, let config):
      resolved.append((m, config))
    case .named(let name, let json):
      let m = try registry.mode(name)
      do { resolved.append((m, try m.decode(json))) } catch {
        throw RegistryError.modeFailed(mode: name, index: i, reason: "\(error)")
      }
    }
  }
  // 2. Chain rules against the history and within the list.
  try checkChain(history: model.modeHistory.map(\.name), next: resolved.map(\.0), registry: registry)
  // 3. Configs against the model.
  for (i, (m, config)) in resolved.enumerated() {
    do { try m.validate(config, model) } catch {
      throw RegistryError.modeFailed(mode: m.name, index: i, reason: "\(error)")
    }
  }
  // 4. Apply, all or nothing.
  let snapshot = ModelSnapshot(model)
  var context = registry.makeContext(forwardLoop: forwardLoop)
  context[CommunicatorKey.self] = communicator
  var current = model
  for (i, (m, config)) in resolved.enumerated() {
    do {
      let history = current.modeHistory
      let (next, metadata) = try m.convert(current, config, context)
      next.modeHistory = history + [ModeRecord(name: m.name, config: try m.encode(config), metadata: metadata)]
      current = next
    } catch {
      snapshot.rollback()
      if let e = error as? RegistryError { throw e }
      throw RegistryError.modeFailed(mode: m.name, index: i, reason: "\(error)")
    }
  }
  return current
}

/// Checks that `next` may follow `history` (ModelOpt's rules: allowed followers of the last
/// mode, export modes closing the mode that awaits them).
func checkChain(history: [String], next: [AnyModeType], registry: Registry) throws {
  var last: AnyModeType? = nil
  var pending: [AnyModeType] = []
  func push(_ m: AnyModeType) throws {
    if let last, let allowed = last.allowedNext, !allowed.contains(m.name) {
      throw RegistryError.chainNotAllowed(previous: last.name, next: m.name, allowed: allowed.sorted())
    }
    if m.isExport {
      guard let top = pending.last, top.exportMode == m.name else {
        throw RegistryError.exportMismatch(mode: m.name, pending: pending.last?.exportMode)
      }
      pending.removeLast()
    } else if m.exportMode != nil {
      pending.append(m)
    }
    last = m
  }
  for name in history {
    // Modes recorded by plugins that are not registered cannot be checked; they were valid
    // when applied.
    guard let m = try? registry.mode(name) else { last = nil; continue }
    try push(m)
  }
  for m in next { try push(m) }
}
