import Foundation
import QATPlugins
import QATRegistry

/// `qatkit-run list`: what the registry holds (modes, quantizers, calibrators, criteria,
/// balancers, layer mappings) and the plugin that registered each.
struct ListCommand: Command {
  static let name = "list"
  static let abstract = "list registered modes, quantizers, calibrators, criteria and balancers"
  static let usage = ["list"]

  init(_ arguments: ParsedArguments) throws {}

  func run() throws {
    for e in InTreePlugins.registry.allEntries {
      let kind = e.kind.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
      let name = e.name.padding(toLength: 18, withPad: " ", startingAt: 0)
      print("\(kind) \(name) [\(e.plugin)] \(e.summary)")
    }
  }
}
