import Foundation
import QATPlugins
import QATRegistry

/// `qatkit-run new-plugin NAME --kind KIND`: writes a plugin package that depends on QATKit,
/// with the plugin, its registration, run-time entry points, a test on QATKit's conformance
/// suite and a README; it builds and its tests pass as written.
struct NewPluginCommand: Command {
  static let name = "new-plugin"
  static let abstract = "write a plugin package (quantizer, calibrator, criterion, balancer or mode) with its tests"
  static let usage = ["new-plugin NAME --kind quantizer|calibrator|criterion|balancer|mode [--out DIR] [--qatkit PATH]"]
  static let discussion = """
    Writes DIR/NAME (default: ./NAME): Package.swift (QATKit from $QATKIT_PATH, else --qatkit, else the
    source tree this qatkit-run was built from; tools-version 6.2, macOS 15), Sources/NAME with NAMEPlugin
    (the QATPlugin type; its name "NAME" goes into checkpoints), the implementation registered as
    snake_case(NAME), run-time entry points for build-plugin, Tests/NAMETests on QATPluginTesting, and a
    README. NAME is a Swift type name starting with an uppercase letter (MyQuant → my_quant).
    Then: cd NAME && swift test (the first build compiles QATKit too).
    """
  static let options: [OptionSpec] = [
    .option("--kind", "KIND", "quantizer, calibrator, criterion, balancer or mode (required)"),
    .option("--out", "DIR", "where the package folder is created (default: the current directory)"),
    .option("--qatkit", "PATH", "QATKit's source tree for the manifest's default (default: where this qatkit-run was built from)"),
  ]
  static let positionals = 1...1

  let scaffold: Scaffold
  let out: URL

  init(_ arguments: ParsedArguments) throws {
    let name = arguments.positionals[0]
    guard let first = name.unicodeScalars.first, first.isASCII, CharacterSet.uppercaseLetters.contains(first),
      BuildPluginCommand.isIdentifier(name)
    else {
      throw CLIError.usage("'\(name)' is not a plugin name: use a Swift type name starting with an uppercase letter, e.g. MyQuant")
    }
    let taken = ["QATKit", "QATRegistry", "QATPlugins", "QATPluginTesting"] + InTreePlugins.all.map { $0.name }
    guard !taken.contains(name) else {
      throw CLIError.usage("'\(name)' is already a QATKit module or in-tree plugin name: pick another")
    }
    guard let kindName = arguments.string("--kind") else {
      throw CLIError.usage("'new-plugin' needs --kind (\(Scaffold.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    guard let kind = Scaffold.Kind(rawValue: kindName) else {
      let hint = ParsedArguments.nearest(kindName, in: Scaffold.Kind.allCases.map(\.rawValue))
      throw CLIError.usage(
        "unknown kind '\(kindName)'\(hint.map { " (did you mean '\($0)'?)" } ?? ""); kinds: \(Scaffold.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    let qatkit: URL
    if let given = arguments.string("--qatkit") {
      qatkit = URL(fileURLWithPath: given).standardizedFileURL
    } else {
      // This file is <root>/Sources/qatkit-run/Commands/NewPluginCommand.swift.
      qatkit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    }
    let fm = FileManager.default
    guard fm.fileExists(atPath: qatkit.appendingPathComponent("Package.swift").path),
      fm.fileExists(atPath: qatkit.appendingPathComponent("Sources/QATKit").path)
    else {
      throw CLIError.input(
        "\(qatkit.path) is not QATKit's source tree (no Package.swift and Sources/QATKit): pass --qatkit PATH")
    }
    scaffold = Scaffold(names: Scaffold.Names(name), kind: kind, qatkitPath: qatkit.path)
    out = arguments.url("--out") ?? URL(fileURLWithPath: fm.currentDirectoryPath)
  }

  func run() throws {
    let target = try scaffold.write(into: out)
    let n = scaffold.names
    print("wrote \(target.path): a \(scaffold.kind.rawValue) plugin '\(n.type)' registered as '\(n.snake)'")
    for (path, _) in scaffold.files { print("  \(path)") }
    print("next: cd \(target.path) && swift test        (QATKit from $QATKIT_PATH or \(scaffold.qatkitPath))")
  }
}
