import Foundation
import QATKit
import Testing

@testable import QATRegistry

/// Refusals of the run-time plugin loader that need no plugin build (the accepted path and the
/// ABI check run in `scripts/check-runtime-plugin.sh`, which builds real plugin libraries).
@Suite struct PluginLibraryTests {
  @Test func missingFileIsNamed() {
    var r = Registry.builtin
    #expect(throws: PluginLoadError.fileNotFound(path: "/no/such/libX.so")) { try r.loadPlugin(at: "/no/such/libX.so") }
    #expect(r.plugins.isEmpty)
  }

  @Test func aFileThatIsNoLibraryIsRefused() throws {
    let url = tempURL("notalibrary.so")
    try Data("not an ELF file".utf8).write(to: url)
    var r = Registry.builtin
    #expect {
      try r.loadPlugin(at: url.path)
    } throws: { e in
      guard case PluginLoadError.cannotOpen = e else { return false }
      return "\(e)".contains("not a shared library")
    }
    #expect(r.allEntries == Registry.builtin.allEntries)
  }

  #if os(Linux)
    /// The C library (found in this process's memory map) is a shared library without the
    /// plugin entry points.
    @Test func aLibraryWithoutEntryPointsIsNotAPlugin() throws {
      // Read to the end: /proc files report size 0, so a read sized by stat may stop early.
      let handle = try #require(FileHandle(forReadingAtPath: "/proc/self/maps"))
      let maps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
      let libc = maps.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        .first { $0.hasPrefix("/") && $0.contains("/libc.so") }
      let path = try #require(libc)
      var r = Registry.builtin
      #expect(throws: PluginLoadError.notAPlugin(path: path, missingSymbol: PluginABI.versionSymbol)) { try r.loadPlugin(at: path) }
      #expect(r.plugins.isEmpty)
      #expect("\(PluginLoadError.notAPlugin(path: path, missingSymbol: PluginABI.versionSymbol))".contains("qatkit-run new-plugin"))
    }
  #endif

  @Test func errorsSayWhatToDo() {
    let abi = PluginLoadError.abiMismatch(path: "libX.so", found: 7, expected: PluginABI.version)
    #expect("\(abi)".contains("ABI version 7") && "\(abi)".contains("build-plugin"))
    let undefined = PluginLoadError.cannotOpen(path: "libX.so", reason: "libX.so: undefined symbol: $s6QATKit6TensorCN")
    #expect("\(undefined)".contains("same toolchain") && "\(undefined)".contains("--export-dynamic"))
  }

  /// A library whose second plugin clashes with a registered name registers nothing.
  @Test func aLibraryRegistersAllOrNothing() throws {
    enum Clash: QATPlugin {
      static let name = "Clash"
      static let summary = "registers a taken name"
      static func register(in registry: inout Registry) throws {
        try registry.register(quantizer: "clash_ok", summary: "") { try TensorQuantizer(attributes: $0) }
        try registry.register(quantizer: "static", summary: "") { try TensorQuantizer(attributes: $0) }
      }
    }
    var r = Registry.builtin
    #expect {
      try r.register(PluginLibrary(path: "libX.so", plugins: [TestPlugin.self, Clash.self]))
    } throws: { e in
      guard case PluginLoadError.registrationFailed(_, let plugin, _) = e else { return false }
      return plugin == "Clash" && "\(e)".contains("nothing from the library was registered")
    }
    #expect(r.allEntries == Registry.builtin.allEntries && r.plugins.isEmpty)
    try r.register(PluginLibrary(path: "libX.so", plugins: [TestPlugin.self]))
    #expect(r.plugins == ["TestPlugin"])
  }

  /// The registrar collects what a plugin's entry point hands it through the opaque pointer.
  @Test func registrarCollectsThroughAnOpaquePointer() throws {
    let registrar = PluginRegistrar()
    let code = PluginRegistrar.register([TestPlugin.self], into: Unmanaged.passUnretained(registrar).toOpaque())
    #expect(code == 0 && registrar.plugins.count == 1 && registrar.plugins[0] == TestPlugin.self)
  }
}
