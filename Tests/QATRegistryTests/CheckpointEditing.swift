import Foundation
import QATKit
import QATRegistry

/// A checkpoint opened for editing: its tensors and metadata, with the mode list as JSON
/// objects. Tests use it to write checkpoints whose metadata a hostile user changed.
struct EditableCheckpoint {
  var tensors: [String: (shape: [Int], values: [Float])]
  var metadata: [String: String]
  /// `modes` (format 2) decoded.
  var modes: [[String: Any]]

  init(_ url: URL) throws {
    let file = try SafeTensorsFile(contentsOf: url)
    var t: [String: (shape: [Int], values: [Float])] = [:]
    for info in file.tensors { t[info.name] = (info.shape, try file.floats(info.name)) }
    tensors = t
    metadata = file.metadata
    let text = metadata["modes"] ?? "[]"
    modes = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? [[String: Any]] ?? []
  }

  /// The record of quantizer `path` in mode `index`'s metadata.
  func record(_ path: String, mode index: Int = 0) -> [String: Any]? {
    guard modes.indices.contains(index) else { return nil }
    return ((modes[index]["metadata"] as? [String: Any])?["quantizers"] as? [String: Any])?[path] as? [String: Any]
  }

  /// Replaces the record of quantizer `path` (or removes it with `nil`).
  mutating func setRecord(_ path: String, _ record: [String: Any]?, mode index: Int = 0) {
    guard modes.indices.contains(index) else { return }
    var metadata = modes[index]["metadata"] as? [String: Any] ?? [:]
    var quantizers = metadata["quantizers"] as? [String: Any] ?? [:]
    quantizers[path] = record
    metadata["quantizers"] = quantizers
    modes[index]["metadata"] = metadata
  }

  /// Changes one attribute of a record (`nil` writes JSON null).
  mutating func setAttribute(_ path: String, _ key: String, _ value: Any?, mode index: Int = 0) {
    guard var r = record(path, mode: index) else { return }
    var a = r["attributes"] as? [String: Any] ?? [:]
    a[key] = value ?? NSNull()
    r["attributes"] = a
    setRecord(path, r, mode: index)
  }

  /// Changes one state shape of a record; with `tensorToo`, the file's tensor follows (filled
  /// with `fill`) so that the shape check against the file passes and deeper checks are reached.
  mutating func setState(_ path: String, _ name: String, _ shape: Any?, tensorToo: Bool = false, fill: Float = 0.5, mode index: Int = 0) {
    guard var r = record(path, mode: index) else { return }
    var s = r["state"] as? [String: Any] ?? [:]
    s[name] = shape
    r["state"] = s
    setRecord(path, r, mode: index)
    if tensorToo, let dims = shape as? [Int], dims.allSatisfy({ $0 >= 0 && $0 <= 1 << 16 }) {
      let count = dims.reduce(1) { $0 > 1 << 16 ? $0 : $0 * $1 }
      if count <= 1 << 16 { tensors["\(path).\(name)"] = (dims, [Float](repeating: fill, count: count)) }
    }
  }

  /// Writes the edited checkpoint.
  func write(to url: URL) throws {
    var md = metadata
    let data = try JSONSerialization.data(withJSONObject: modes, options: [.fragmentsAllowed])
    md["modes"] = String(decoding: data, as: UTF8.self)
    let list = tensors.keys.sorted().map { (name: $0, shape: tensors[$0]!.shape, values: tensors[$0]!.values) }
    // No fsync: tests write thousands of these.
    let bytes = try SafeTensors.serialize(SafeTensors.encode(floats: list, as: .f32), metadata: md)
    try Data(bytes).write(to: url)
  }
}
