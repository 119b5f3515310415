import Foundation
import QATKit

/// The producer string written into checkpoints.
public let qatkitVersion = "QATKit 0.1.0"

/// Writes `model` to one safetensors file: its state dict (parameters and quantizer state,
/// never a distillation teacher) and, in the metadata, the format version, the saved mode
/// history and the producer.
///
/// Each mode's `updateForSave` runs first; modes that do not save state (`kd_loss`) are left
/// out, so the file restores onto a plain model. The write is atomic (temporary file, fsync,
/// rename): a crash never leaves a damaged file in place of a good one.
///
/// - Parameters:
///   - metadata: Extra string pairs for the header (tools record how the model was built,
///     e.g. its architecture); they must not use the checkpoint's own keys.
/// - Throws: ``RegistryError`` when a mode in the history is not registered, an extra key is
///   reserved, or the file cannot be written.
public func save(_ model: Module, to url: URL, registry: Registry = .builtin, metadata extra: [String: String] = [:]) throws {
  var modes: [SavedMode] = []
  for record in model.modeHistory {
    guard let entry = registry.entry(.mode, record.name) else {
      throw RegistryError.unknownName(kind: "mode", name: record.name, known: registry.entries(.mode).map(\.name), suggestion: nil)
    }
    let m = try registry.mode(record.name)
    guard m.savesState else { continue }
    var metadata = record.metadata
    let config = try m.decode(record.config)
    try m.updateForSave(model, config, &metadata)
    modes.append(SavedMode(name: record.name, plugin: entry.plugin, config: record.config, metadata: metadata))
  }
  let enc = JSONEncoder()
  enc.outputFormatting = [.sortedKeys]
  let modesText = String(decoding: try enc.encode(modes), as: UTF8.self)
  let requiresText = String(decoding: try enc.encode(registry.pluginRequirements(of: model)), as: UTF8.self)
  let metadata = [
    "format": CheckpointFormat.name,
    "format_version": String(CheckpointFormat.currentVersion),
    "producer": qatkitVersion,
    // A distillation wrapper saves its student: record the student's type.
    "model": String(describing: type(of: (model as? DistillationModel)?.student ?? model)),
    "modes": modesText,
    "requires": requiresText,
  ]
  if let reserved = extra.keys.sorted().first(where: { metadata[$0] != nil }) {
    throw RegistryError.checkpoint("metadata key '\(reserved)' is reserved for the checkpoint format; use another name")
  }
  let tensors = model.stateDict().map { (name: $0.0, shape: $0.1.shape, values: $0.1.scalars) }
  do { try SafeTensors.write(floats: tensors, metadata: metadata.merging(extra) { a, _ in a }, to: url) } catch {
    throw RegistryError.checkpoint("cannot write \(url.path): \(error)")
  }
}

/// Restores a checkpoint onto a freshly built model of the same architecture: replays each
/// saved mode's `restore` in order, then loads the weights strictly.
///
/// Outputs are bit-identical to the saved model's. Older format versions migrate (renamed
/// tensor keys are mapped). If anything fails — corrupt file, unknown version, a mode whose
/// plugin is not registered, another architecture — the model is left exactly as it was and
/// the error says what happened and what to do.
///
/// - Returns: The restored model (the same object for the built-in modes).
@discardableResult
public func restore(_ model: Module, from url: URL, registry: Registry = .builtin) throws -> Module {
  let file: SafeTensorsFile
  do { file = try SafeTensorsFile(contentsOf: url) } catch {
    throw RegistryError.checkpoint("cannot read \(url.lastPathComponent): \(error)")
  }
  let header = try CheckpointHeader(metadata: file.metadata)
  // Quantizer algorithms and calibrators that plugins brought must be registered.
  for need in header.requires where registry.entry(need.kind, need.name) == nil {
    throw RegistryError.missingPlugin(kind: need.kind, name: need.name, plugin: need.plugin)
  }
  // Resolve every mode before touching the model.
  var plan: [(AnyModeType, Any, JSONValue)] = []
  for saved in header.modes {
    guard registry.entry(.mode, saved.name) != nil else {
      if saved.plugin != "QATKit" && !registry.plugins.contains(saved.plugin) {
        throw RegistryError.missingPlugin(kind: .mode, name: saved.name, plugin: saved.plugin)
      }
      _ = try registry.mode(saved.name)  // throws unknownName with suggestions
      continue
    }
    let m = try registry.mode(saved.name)
    do { plan.append((m, try m.decode(saved.config), saved.metadata)) } catch {
      throw RegistryError.checkpoint("mode '\(saved.name)' config: \(error)")
    }
  }
  if !model.modeHistory.isEmpty {
    throw RegistryError.checkpoint("restore needs a freshly built model; this one already has modes \(model.modeHistory.map(\.name))")
  }
  try checkChain(history: [], next: plan.map(\.0), registry: registry)
  var state: [String: Tensor] = [:]
  for info in file.tensors {
    do {
      let values = try file.floats(info.name)
      let key = CheckpointHeader.migrateKey(info.name, from: header.formatVersion)
      state[key] = try Tensor(values, shape: header.shapeMigrations[key] ?? info.shape)
    } catch {
      throw RegistryError.checkpoint("tensor '\(info.name)': \(error)")
    }
  }
  let snapshot = ModelSnapshot(model)
  var context = registry.makeContext(forwardLoop: nil)
  // Modes check the state shapes their metadata records against the file's own tensors.
  context[SavedTensorShapesKey.self] = state.mapValues(\.shape)
  var current = model
  do {
    for (m, config, metadata) in plan {
      let history = current.modeHistory
      let next = try m.restore(current, config, metadata, context)
      next.modeHistory = history + [ModeRecord(name: m.name, config: try m.encode(config), metadata: metadata)]
      current = next
    }
    try current.loadStateDict(state, strict: true)
  } catch {
    snapshot.rollback()
    let saved = header.modelType.map { " (saved from \($0), restoring onto \(type(of: model)))" } ?? ""
    throw RegistryError.checkpoint("does not fit this model\(saved): \(error)")
  }
  return current
}
