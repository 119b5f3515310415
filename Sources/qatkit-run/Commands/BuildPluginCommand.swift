import Foundation
import QATPlugins
import QATRegistry

/// `qatkit-run build-plugin SOURCE.swift... --output libNAME.so`: compiles plugin sources into a
/// shared library that this very `qatkit-run` loads with `--plugin`.
///
/// A run-time plugin must be compiled by the same compiler against the same QATKit build as
/// the program that loads it, as one module that leaves QATKit's symbols undefined (they
/// resolve to the host's at load time): a second, statically linked copy of QATKit inside the
/// library would have its own registry and protocol metadata. This command does exactly that
/// with the `.swiftmodule`s of its own build (`<build dir>/Modules`).
struct BuildPluginCommand: Command {
  static let name = "build-plugin"
  static let abstract = "compile plugin sources into a library this qatkit-run loads with --plugin"
  static let usage = ["build-plugin SOURCE.swift... --output libNAME.so [--module-name NAME] [--modules DIR] [--swiftc PATH] [--debug]"]
  static let discussion = """
    Runs: swiftc -emit-library -parse-as-library -swift-version 6 -module-name NAME
                 -I <this build's Modules dir> -D QATKIT_PLUGIN_LIBRARY -O SOURCE.swift... -o libNAME.so
    The sources import QATKit and QATRegistry (not QATPlugins) and export the C entry points
    qatkit_plugin_abi_version and qatkit_plugin_register, which new-plugin packages compile only
    when QATKIT_PLUGIN_LIBRARY is defined.
    The library works only with the qatkit-run build it was compiled against and the same
    toolchain; rebuild it after rebuilding qatkit-run. Linux (the host exports its symbols with
    -Xlinker --export-dynamic).
    """
  static let options: [OptionSpec] = [
    .option("--output", "PATH", "the library to write (required), e.g. libMyQuant.so"),
    .option("--module-name", "NAME", "the plugin's module name (default: from the output, libNAME.so → NAME)"),
    .option("--modules", "DIR", "the Modules dir of the QATKit build (default: next to this executable)"),
    .option("--swiftc", "PATH", "the compiler (default: $SWIFTC, or swiftc on PATH)"),
    .flag("--debug", "compile without optimization (-Onone)"),
  ]
  static let positionals = 1...10_000

  let sources: [String]
  let output: URL
  let moduleName: String
  let modules: URL
  let swiftc: String
  let optimize: Bool

  init(_ arguments: ParsedArguments) throws {
    sources = arguments.positionals
    guard let out = arguments.string("--output") else {
      throw CLIError.usage("'build-plugin' needs --output PATH (the library to write, e.g. libMyQuant.so)")
    }
    output = URL(fileURLWithPath: out)
    var stem = output.deletingPathExtension().lastPathComponent
    if stem.hasPrefix("lib") { stem.removeFirst(3) }
    moduleName = arguments.string("--module-name") ?? stem
    guard Self.isIdentifier(moduleName) else {
      throw CLIError.usage("'\(moduleName)' is not a valid module name (letters, digits, _; not starting with a digit): pass --module-name")
    }
    let taken = ["QATKit", "QATRegistry", "QATPlugins", "QATPluginTesting"] + InTreePlugins.all.map { "QATPlugin\($0.name)" }
    guard !taken.contains(moduleName) else {
      throw CLIError.usage("module name '\(moduleName)' is taken by QATKit's own modules: pick another with --module-name")
    }
    if let m = arguments.string("--modules") {
      modules = URL(fileURLWithPath: m)
    } else if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() {
      modules = exe.deletingLastPathComponent().appendingPathComponent("Modules")
    } else {
      throw CLIError.usage("cannot locate this executable's build directory: pass --modules DIR")
    }
    swiftc = try arguments.string("--swiftc") ?? ProcessInfo.processInfo.environment["SWIFTC"] ?? Self.onPath("swiftc")
    optimize = !arguments.flag("--debug")
  }

  func run() throws {
    for module in ["QATKit", "QATRegistry"] {
      let path = modules.appendingPathComponent("\(module).swiftmodule").path
      guard FileManager.default.fileExists(atPath: path) else {
        throw CLIError.input(
          "no \(module).swiftmodule in \(modules.path): build-plugin needs the Modules dir of the SwiftPM build this qatkit-run "
            + "comes from (run it from its build directory, e.g. .build/release/qatkit-run, or pass --modules DIR)")
      }
    }
    for s in sources where !FileManager.default.fileExists(atPath: s) {
      throw CLIError.input("source file '\(s)' does not exist")
    }
    // Compile to a temporary name next to the output, then rename: never a half-written library.
    let temporary = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
    var args = [
      "-emit-library", "-parse-as-library", "-swift-version", "6", "-module-name", moduleName, "-I", modules.path,
      "-D", "QATKIT_PLUGIN_LIBRARY", optimize ? "-O" : "-Onone",
    ]
    // QATKit imports C targets of the package (its integer kernels) internally; the compiler
    // still reads their module maps when it loads QATKit, so hand it the ones SwiftPM generated.
    for map in Self.cModuleMaps(in: modules.deletingLastPathComponent()) {
      args += ["-Xcc", "-fmodule-map-file=\(map.path)"]
    }
    #if os(macOS)
      args += ["-Xlinker", "-undefined", "-Xlinker", "dynamic_lookup"]
    #endif
    args += sources + ["-o", temporary.path]
    print("\(swiftc) \(args.joined(separator: " "))")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: swiftc)
    process.arguments = args
    do { try process.run() } catch {
      throw CLIError.failure("cannot run \(swiftc): \(error)")
    }
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      try? FileManager.default.removeItem(at: temporary)
      throw CLIError.failure("swiftc failed (exit \(process.terminationStatus)); its messages are above")
    }
    do {
      if FileManager.default.fileExists(atPath: output.path) { try FileManager.default.removeItem(at: output) }
      try FileManager.default.moveItem(at: temporary, to: output)
    } catch {
      throw CLIError.failure("cannot write \(output.path): \(error)")
    }
    print("built \(output.path) (module \(moduleName)) against \(modules.path)")
    print("load it with: qatkit-run --plugin \(output.path) list")
  }

  /// The module maps SwiftPM generated for the package's C targets in the build directory `dir`
  /// (`<Target>.build/module.modulemap`), sorted by path.
  static func cModuleMaps(in dir: URL) -> [URL] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    return entries.filter { $0.hasSuffix(".build") }.sorted().compactMap { entry in
      let map = dir.appendingPathComponent(entry).appendingPathComponent("module.modulemap")
      return FileManager.default.fileExists(atPath: map.path) ? map : nil
    }
  }

  /// Whether `s` is a Swift identifier made of ASCII letters, digits and `_`.
  static func isIdentifier(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, !CharacterSet.decimalDigits.contains(first) else { return false }
    return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }
  }

  /// The first executable `name` on `PATH`.
  static func onPath(_ name: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for dir in path.split(separator: ":") {
      let candidate = "\(dir)/\(name)"
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw CLIError.usage("no \(name) on PATH: pass --swiftc PATH or set SWIFTC")
  }
}
