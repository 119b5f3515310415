import Foundation
import QATKit

/// The on-disk checkpoint layout: one safetensors file whose `__metadata__` holds the format
/// name and version, the producer, and the mode history as JSON.
///
/// | version | layout |
/// |---|---|
/// | 0 | a plain safetensors state dict (e.g. written by PyTorch, `{"format": "pt"}` or no metadata): weights only, no modes |
/// | 1 | `mode_history` (array of `{name, config, metadata}`), quantizer ranges named `<slot>.amax`, attention probabilities quantizer `softmax_quantizer` |
/// | 2 | `modes` (array of `{name, plugin, config, metadata}`), ranges `<slot>._amax` (ModelOpt naming), `p_bmm_quantizer` |
/// | 3 | static per-block ranges of the built-in quantizer as `[blocks, 1]` (ModelOpt's layout) instead of `[rows, blocksPerRow]` |
///
/// Older versions migrate on read; renamed tensor keys are mapped, not fatal, and reshaped
/// ranges (same values, same order) are reshaped.
public enum CheckpointFormat {
  /// The value of the `format` metadata key.
  public static let name = "qatkit.checkpoint"
  /// The version this build writes.
  public static let currentVersion = 3
  /// The versions this build reads.
  public static let supported = 0...3
  /// Tensor-name renames between versions: `(since version, old fragment, new fragment)`.
  public static let keyRenames: [(version: Int, old: String, new: String)] = [
    (2, ".amax", "._amax"),
    (2, "softmax_quantizer", "p_bmm_quantizer"),
  ]
}

/// A registered name from a plugin that a saved model needs on restore.
public struct PluginRequirement: Codable, Equatable, Sendable {
  /// The kind of the name.
  public var kind: Registry.Kind
  /// The name (e.g. `lsq`).
  public var name: String
  /// The plugin that registers it.
  public var plugin: String
}

/// One mode as stored in a checkpoint.
public struct SavedMode: Codable, Equatable, Sendable {
  /// Mode name.
  public var name: String
  /// The plugin that registered it (`QATKit` for built-ins).
  public var plugin: String
  /// Config JSON.
  public var config: JSONValue
  /// Metadata JSON.
  public var metadata: JSONValue
}

/// The decoded header of a checkpoint, after migration to the current version.
public struct CheckpointHeader: Sendable {
  /// The version found in the file (before migration).
  public var formatVersion: Int
  /// The producer string.
  public var producer: String
  /// The model type that was saved, if recorded.
  public var modelType: String?
  /// The saved modes, in order.
  public var modes: [SavedMode]
  /// Names from plugins the model uses (quantizer algorithms, calibrators).
  public var requires: [PluginRequirement]
  /// Raw metadata.
  public var metadata: [String: String]
  /// Tensors whose shape changed since the file's version (key after renames → current
  /// shape, same values in the same order): block ranges before version 3.
  public var shapeMigrations: [String: [Int]] = [:]

  /// Reads and migrates the metadata of a safetensors file.
  ///
  /// - Throws: ``RegistryError/unsupportedFormat(found:supported:)`` or
  ///   ``RegistryError/checkpoint(_:)`` for malformed metadata.
  public init(metadata: [String: String]) throws {
    self.metadata = metadata
    producer = metadata["producer"] ?? "unknown"
    requires = try metadata["requires"].map { try Self.decode($0, key: "requires") } ?? []
    modelType = metadata["model"]
    guard let format = metadata["format"] else {
      formatVersion = 0
      modes = []
      if metadata["producer"] == nil { producer = "plain state dict (no metadata)" }
      return
    }
    guard format == CheckpointFormat.name else {
      // PyTorch's `safetensors.torch.save_file` writes `{"format": "pt"}` (other frameworks
      // "np", "tf", "flax", "mlx"): a plain state dict, format 0. Metadata that carries this
      // format's own keys under another format name is a damaged or foreign checkpoint.
      let ownKeys = ["format_version", "modes", "mode_history", "requires"].filter { metadata[$0] != nil }
      guard ownKeys.isEmpty else {
        throw RegistryError.checkpoint(
          "metadata format is '\(format)', not '\(CheckpointFormat.name)', but it has checkpoint keys \(ownKeys); "
            + "the file is damaged or was written by another tool")
      }
      formatVersion = 0
      modes = []
      if metadata["producer"] == nil { producer = "plain state dict (format '\(format)')" }
      return
    }
    guard let vs = metadata["format_version"], let v = Int(vs) else {
      throw RegistryError.checkpoint("missing or non-integer format_version")
    }
    guard CheckpointFormat.supported.contains(v) else {
      throw RegistryError.unsupportedFormat(found: v, supported: CheckpointFormat.supported)
    }
    formatVersion = v
    switch v {
    case 1:
      struct V1Mode: Codable { var name: String; var config: JSONValue; var metadata: JSONValue }
      let list: [V1Mode] = try Self.decode(metadata["mode_history"], key: "mode_history")
      modes = list.map { SavedMode(name: $0.name, plugin: "QATKit", config: $0.config, metadata: Self.migrateV1($0.metadata)) }
    default:
      modes = try Self.decode(metadata["modes"], key: "modes")
    }
    if v < 3 { migrateBlockRanges() }
  }

  /// Before version 3 the built-in quantizer stored static block ranges as
  /// `[rows, blocksPerRow]`; now `[blocks, 1]` (ModelOpt). Rewrites the recorded state shapes
  /// of `quantize` modes and notes the tensors to reshape.
  private mutating func migrateBlockRanges() {
    for i in modes.indices where modes[i].name == "quantize" {
      guard case .object(var meta) = modes[i].metadata, case .object(var quantizers)? = meta["quantizers"] else { continue }
      for (path, record) in quantizers {
        guard case .object(var r) = record, case .object(let attributes)? = r["attributes"],
          case .object(var state)? = r["state"], case .array(let dims)? = state["_amax"],
          attributes["algorithm"] == nil || attributes["algorithm"] == .string("static"),
          case .number? = attributes["blockSize"],
          case .string(let format)? = attributes["format"], !["nvfp4", "mxfp4", "mxfp8"].contains(format)
        else { continue }
        // Numbers from the file: shapes that are not integers, or whose product overflows, are
        // left as they are for restore to reject with its own message.
        let shape = dims.compactMap { d -> Int? in if case .number(let n) = d { Int(exactly: n) } else { nil } }
        guard shape.count == dims.count, shape.count >= 1, shape.allSatisfy({ $0 >= 0 }) else { continue }
        var count = 1
        var overflow = false
        for d in shape {
          let (p, o) = count.multipliedReportingOverflow(by: d)
          overflow = overflow || o
          count = p
        }
        guard !overflow else { continue }
        let migrated = [count, 1]
        guard migrated != shape else { continue }
        state["_amax"] = .array(migrated.map { .number(Double($0)) })
        r["state"] = .object(state)
        quantizers[path] = .object(r)
        shapeMigrations[path + "._amax"] = migrated
      }
      meta["quantizers"] = .object(quantizers)
      modes[i].metadata = .object(meta)
    }
  }

  private static func decode<T: Decodable>(_ text: String?, key: String) throws -> T {
    guard let text else { throw RegistryError.checkpoint("metadata key '\(key)' is missing") }
    do { return try JSONValue(parsing: text).decodeLoose(T.self) } catch {
      throw RegistryError.checkpoint("metadata '\(key)' is not valid: \(error)")
    }
  }

  /// Renames quantizer paths inside v1 metadata objects.
  private static func migrateV1(_ v: JSONValue) -> JSONValue {
    switch v {
    case .object(let o):
      var out: [String: JSONValue] = [:]
      for (k, val) in o { out[migrateKey(k, from: 1)] = migrateV1(val) }
      return .object(out)
    case .array(let a): return .array(a.map(migrateV1))
    case .string(let s): return .string(migrateKey(s, from: 1))
    default: return v
    }
  }

  /// Applies the renames introduced after `version` to a tensor or quantizer path.
  static func migrateKey(_ key: String, from version: Int) -> String {
    var k = key
    for r in CheckpointFormat.keyRenames where r.version > version {
      if r.old.hasPrefix(".") {
        if k.hasSuffix(r.old) { k = String(k.dropLast(r.old.count)) + r.new }
      } else {
        k = k.replacingOccurrences(of: r.old, with: r.new)
      }
    }
    return k
  }
}

extension JSONValue {
  /// Decodes `T` without the strict unknown-key check (for stored records).
  func decodeLoose<T: Decodable>(_ type: T.Type) throws -> T {
    try JSONDecoder().decode(T.self, from: JSONEncoder().encode(self))
  }
}
