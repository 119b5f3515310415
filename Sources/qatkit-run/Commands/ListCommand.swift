import Foundation
import QATKit
import QATPlugins
import QATRegistry

/// `qatkit-run list`: what the registry holds (modes, quantizers, calibrators, criteria,
/// balancers, layer mappings) and the plugin that registered each, then the names the command
/// line accepts: quantization presets, architecture-file layer types, export formats.
struct ListCommand: Command {
  static let name = "list"
  static let abstract = "list modes, quantizers, calibrators, calibration algorithms, criteria, balancers, presets and layer types"
  static let usage = ["list"]

  init(_ arguments: ParsedArguments) throws {}

  func run() throws {
    for e in ToolRegistry.registry.allEntries {
      let kind = e.kind.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
      let name = e.name.padding(toLength: 18, withPad: " ", startingAt: 0)
      print("\(kind) \(name) [\(e.plugin)] \(e.summary)")
    }
    let supported = ModelOptConfig.presetNames.filter { $0 != "W4A8_AWQ_BETA_CFG" }
    print("preset      ModelOpt: \(supported.joined(separator: ", "))")
    print("preset      QATKit: \(QuantizePreset.allCases.map(\.name).joined(separator: ", "))")
    print("layer type  \(Architecture.layerTypes.joined(separator: ", "))")
    print("export      \(ExportJob.Format.allCases.map(\.rawValue).joined(separator: ", "))")
  }
}
