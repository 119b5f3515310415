import Foundation
import QATKit
import QATPlugins
import QATRegistry

/// Checkpoints written by `qatkit-run` record how to rebuild the model and prepare the data,
/// so `quantize`, `qat`, `distill`, `eval` and `export` need only the file.
enum Checkpoints {
  static let architectureKey = "qatkit-run.architecture"
  static let dataKey = "qatkit-run.data"
  /// The tool's registry: built-ins, in-tree plugins and the libraries loaded with --plugin.
  static var registry: Registry { ToolRegistry.registry }

  /// Saves `model` atomically with the architecture and data record.
  /// A failed write is a failure while running (exit 1), not an input error. In an MPI job
  /// rank 0 writes and every rank learns whether it succeeded (see ``OutputFiles``).
  static func save(_ model: Module, to url: URL, architecture: Architecture, data: DataRecord) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    let dataText = String(decoding: try enc.encode(data), as: UTF8.self)
    try OutputFiles.writing(url) {
      try QATRegistry.save(
        model, to: url, registry: registry, metadata: [architectureKey: architecture.json.text, dataKey: dataText])
    }
  }

  /// What a checkpoint recorded (either may be absent, e.g. in a PyTorch state dict).
  static func recorded(_ url: URL) throws -> (architecture: Architecture?, data: DataRecord?) {
    let file: SafeTensorsFile
    do { file = try SafeTensorsFile(contentsOf: url) } catch {
      throw CLIError.input("cannot read \(url.path): \(error)")
    }
    let arch = try file.metadata[architectureKey].map { try Architecture(json: JSONValue(parsing: $0)) }
    let data = try file.metadata[dataKey].map { text -> DataRecord in
      do { return try JSONDecoder().decode(DataRecord.self, from: Data(text.utf8)) } catch {
        throw CLIError.input("\(url.lastPathComponent): the recorded data settings are damaged: \(error)")
      }
    }
    return (arch, data)
  }

  /// A model restored from `url` (modes replayed, weights loaded strictly), the data prepared
  /// as recorded, and the architecture. `--model` overrides the recorded architecture; a
  /// checkpoint without one (a PyTorch state dict) needs `--model` or is the default MLP.
  /// In an MPI job every rank restores the file itself and checks that all ranks restored the
  /// same model (collective).
  static func load(
    _ url: URL, model options: ModelOptions, data dataOptions: DataOptions
  ) throws -> (model: Module, architecture: Architecture, data: PreparedData) {
    let (recordedArch, recordedData) = try recorded(url)
    let declared = try options.declaredInputShape() ?? recordedArch?.inputShape
    let data = try dataOptions.load(recorded: recordedData, modelInputShape: declared)
    var arch: Architecture
    if options.declared != nil || recordedArch == nil {
      arch = try options.architecture(for: data)
    } else {
      arch = recordedArch!
    }
    try ModelOptions.check(arch, against: data)
    let fresh = try arch.build(seed: dataOptions.seed(recorded: recordedData))
    let model = try restore(fresh, from: url, registry: registry)
    try DistributedSession.checkSameModel(model, source: url.lastPathComponent)
    return (model, arch, data)
  }
}
