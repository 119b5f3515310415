import Foundation
import QATKit
import QATPluginLSQ
import QATPluginPACT
import QATPlugins
import QATRegistry
import Testing

@Suite struct PluginListTests {
  /// Every folder under Sources/Plugins is a plugin in the aggregator list, and vice versa.
  @Test func everyPluginFolderIsListed() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let folders = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Sources/Plugins").path)
      .filter { !$0.hasPrefix(".") }.sorted()
    #expect(folders == InTreePlugins.all.map { $0.name }.sorted())
  }

  @Test func pluginsRegisterFromScratchWithProvenance() throws {
    var r = Registry.builtin
    for p in InTreePlugins.all { try r.register(p) }
    #expect(r.entry(.quantizer, "lsq")?.plugin == "LSQ")
    #expect(r.entry(.quantizer, "pact")?.plugin == "PACT")
    #expect(r.entry(.quantizer, "static")?.plugin == "QATKit")
    #expect(r.quantizationEnvironment.quantizers["lsq"] != nil)
  }
}
