import Foundation
import QATKit
import QATTestSupport
import Testing

/// `qatkit-run` as a process: the contributor-kit commands (`new-plugin`, `build-plugin`,
/// `check-plugin`) and the global `--plugin` option, with their errors and exit codes. Building
/// and loading real plugin libraries, and building the scaffolded packages, take minutes:
/// `scripts/check-runtime-plugin.sh` and `scripts/check-scaffold.sh` do that from `.ci/run`.
@Suite("qatkit-run: plugin commands")
struct CommandLinePluginTests {
  @Test func helpListsThePluginCommandsAndOption() throws {
    let root = try ToolProcess.run(["--help"])
    #expect(root.status == 0)
    for command in ["new-plugin", "build-plugin", "check-plugin"] {
      #expect(root.stdout.contains("  \(command) "), "root help lists \(command)")
      let h = try ToolProcess.run([command, "--help"])
      #expect(h.status == 0 && h.stdout.contains("USAGE: qatkit-run") && h.stdout.contains("--plugin PATH"), "\(command) --help")
    }
    #expect(root.stdout.contains("--plugin PATH"))
  }

  /// `new-plugin` writes the package of each kind, with the names derived from NAME and the
  /// manifest pointing at the QATKit tree given (building it is scripts/check-scaffold.sh).
  @Test func newPluginWritesAPackage() throws {
    let dir = ToolProcess.workingDirectory()
    let root = Examples.packageRoot.path
    for (name, kind, snake) in [("MyQuant", "quantizer", "my_quant"), ("LSQPlusPlus", "calibrator", "lsq_plus_plus"), ("Rel2", "criterion", "rel2")] {
      let r = try ToolProcess.run(["new-plugin", name, "--kind", kind, "--qatkit", root], in: dir)
      #expect(r.status == 0, "\(r.stderr)")
      let package = dir.appendingPathComponent(name)
      let manifest = try String(contentsOf: package.appendingPathComponent("Package.swift"), encoding: .utf8)
      #expect(manifest.contains("Context.environment[\"QATKIT_PATH\"] ?? \"\(root)\""))
      #expect(manifest.contains("swift-tools-version:6.2") && manifest.contains(".macOS(.v15)"))
      let plugin = try String(contentsOf: package.appendingPathComponent("Sources/\(name)/\(name)Plugin.swift"), encoding: .utf8)
      #expect(plugin.contains("public enum \(name)Plugin: QATPlugin") && plugin.contains("public static let name = \"\(name)\""))
      let implementation = try String(contentsOf: package.appendingPathComponent("Sources/\(name)/\(name)\(kind.capitalized).swift"), encoding: .utf8)
      #expect((plugin + implementation).contains("\"\(snake)\""), "registered as \(snake)")
      let tests = try String(contentsOf: package.appendingPathComponent("Tests/\(name)Tests/\(name)Tests.swift"), encoding: .utf8)
      #expect(tests.contains("Conformance(") && tests.contains("#expect(report.passed"))
      #expect(FileManager.default.fileExists(atPath: package.appendingPathComponent("Sources/\(name)/RuntimeEntryPoints.swift").path))
    }
    // Written into a temporary folder and renamed: nothing half-written is left behind.
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }.isEmpty)
  }

  @Test func errorsHaveExitCodesAndSayWhatToDo() throws {
    let dir = ToolProcess.workingDirectory()
    _ = try ToolProcess.run(["new-plugin", "Taken", "--kind", "mode", "--qatkit", Examples.packageRoot.path], in: dir)
    try "not a library".write(to: dir.appendingPathComponent("libText.so"), atomically: true, encoding: .utf8)
    try "let x = 1".write(to: dir.appendingPathComponent("P.swift"), atomically: true, encoding: .utf8)
    let cases: [(args: [String], status: Int32, message: String)] = [
      (["new-plugin", "Taken", "--kind", "mode"], 2, "already exists"),
      (["new-plugin", "my-quant", "--kind", "mode"], 2, "not a plugin name"),
      (["new-plugin", "LSQ", "--kind", "quantizer"], 2, "already a QATKit module or in-tree plugin name"),
      (["new-plugin", "Fresh"], 2, "'new-plugin' needs --kind"),
      (["new-plugin", "Fresh", "--kind", "critrion"], 2, "(did you mean 'criterion'?)"),
      (["new-plugin", "Fresh", "--kind", "mode", "--qatkit", dir.path], 2, "is not QATKit's source tree"),
      (["build-plugin", "P.swift"], 2, "needs --output PATH"),
      (["build-plugin", "P.swift", "--output", "lib-x.so"], 2, "is not a valid module name"),
      (["build-plugin", "P.swift", "--output", "libQATKit.so"], 2, "taken by QATKit's own modules"),
      (["build-plugin", "Missing.swift", "--output", "libX.so"], 2, "source file 'Missing.swift' does not exist"),
      (["build-plugin", "P.swift", "--output", "libX.so", "--modules", dir.path], 2, "no QATKit.swiftmodule in"),
      (["check-plugin"], 2, "no plugin quantizer to check"),
      (["check-plugin", "--algorithm", "lsqq"], 2, "did you mean 'lsq'?"),
      (["--plugin", "libMissing.so", "list"], 2, "plugin library 'libMissing.so' does not exist"),
      (["list", "--plugin", "libText.so"], 2, "it is not a shared library"),
      (["list", "--plugin"], 2, "'--plugin' needs the path of a plugin library"),
    ]
    for c in cases {
      let r = try ToolProcess.run(c.args, in: dir)
      #expect(r.status == c.status, "\(c.args): exit \(r.status), stderr \(r.stderr)")
      #expect(r.stderr.contains(c.message), "\(c.args): \(r.stderr)")
      #expect(!r.signaled && !r.stderr.contains("Fatal error"), "\(c.args)")
    }
  }
}
