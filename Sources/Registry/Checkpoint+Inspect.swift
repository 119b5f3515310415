import Foundation
import QATKit

/// What a checkpoint holds, read without building the model.
public struct CheckpointSummary: Sendable, CustomStringConvertible {
  /// Format version in the file.
  public var formatVersion: Int
  /// Producer string.
  public var producer: String
  /// The saved model type, if recorded.
  public var modelType: String?
  /// Saved modes.
  public var modes: [SavedMode]
  /// Names from plugins that restoring needs.
  public var requires: [PluginRequirement]
  /// Tensors: name, dtype, shape.
  public var tensors: [(name: String, dtype: String, shape: [Int])]
  /// Quantizer ranges found in the state (`…_quantizer._amax`): path, element count, min, max.
  public var ranges: [(path: String, count: Int, min: Float, max: Float)]
  /// Total bytes of tensor data.
  public var dataBytes: Int

  /// A readable report.
  public var description: String {
    var lines = ["format v\(formatVersion) · \(producer)" + (modelType.map { " · model \($0)" } ?? "")]
    lines.append("modes: " + (modes.isEmpty ? "(none)" : modes.map { "\($0.name) [\($0.plugin)]" }.joined(separator: " → ")))
    for m in modes { lines.append("  \(m.name) config: \(m.config.text)") }
    if !requires.isEmpty {
      lines.append("requires: " + requires.map { "\($0.kind.rawValue) '\($0.name)' from plugin \($0.plugin)" }.joined(separator: ", "))
    }
    let params = tensors.filter { !$0.name.contains("_quantizer.") }.reduce(0) { $0 + $1.shape.reduce(1, *) }
    lines.append("tensors: \(tensors.count), parameters: \(params), data: \(dataBytes) bytes")
    for r in ranges {
      lines.append(String(format: "  %@  amax[%d] in [%.4g, %.4g]", r.path, r.count, r.min, r.max))
    }
    return lines.joined(separator: "\n")
  }
}

/// Reads a checkpoint's format, modes, tensors and quantizer ranges without building the
/// model.
///
/// - Throws: ``RegistryError/checkpoint(_:)`` for unreadable files.
public func inspectCheckpoint(at url: URL) throws -> CheckpointSummary {
  let file: SafeTensorsFile
  do { file = try SafeTensorsFile(contentsOf: url) } catch {
    throw RegistryError.checkpoint("cannot read \(url.lastPathComponent): \(error)")
  }
  let header = try CheckpointHeader(metadata: file.metadata)
  var ranges: [(String, Int, Float, Float)] = []
  for info in file.tensors {
    let key = CheckpointHeader.migrateKey(info.name, from: header.formatVersion)
    guard key.hasSuffix("._amax"), let v = try? file.floats(info.name), !v.isEmpty else { continue }
    ranges.append((String(key.dropLast("._amax".count)), v.count, v.min() ?? 0, v.max() ?? 0))
  }
  return CheckpointSummary(
    formatVersion: header.formatVersion, producer: header.producer, modelType: header.modelType,
    modes: header.modes, requires: header.requires, tensors: file.tensors.map { ($0.name, $0.dtype.rawValue, $0.shape) },
    ranges: ranges, dataBytes: file.tensors.reduce(0) { $0 + $1.byteCount })
}
