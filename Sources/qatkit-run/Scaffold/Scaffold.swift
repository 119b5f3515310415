import Foundation

/// A plugin package written by `qatkit-run new-plugin`: files by relative path, rendered from
/// templates with the plugin's names.
struct Scaffold {
  /// The extension kinds a scaffold can start from.
  enum Kind: String, CaseIterable {
    case quantizer, calibrator, criterion, balancer, mode
  }

  /// The names derived from the package name `MyQuant`.
  struct Names {
    /// `MyQuant`: package, module, plugin name (the folder name of an in-tree plugin).
    let type: String
    /// `my_quant`: the registry name users write in configs.
    let snake: String

    init(_ name: String) {
      type = name
      var out = ""
      let chars = Array(name)
      for (i, c) in chars.enumerated() {
        if c.isUppercase, i > 0, chars[i - 1].isLowercase || chars[i - 1].isNumber || (i + 1 < chars.count && chars[i + 1].isLowercase) {
          out += "_"
        }
        out += c.lowercased()
      }
      snake = out
    }
  }

  let names: Names
  let kind: Kind
  /// The QATKit source tree the package's manifest defaults to.
  let qatkitPath: String

  /// Every file of the package, by relative path.
  var files: [(path: String, text: String)] {
    let n = names.type
    return [
      ("Package.swift", ScaffoldTemplates.manifest),
      ("README.md", ScaffoldTemplates.readme + ScaffoldTemplates.kindReadme(kind)),
      (".gitignore", ".build/\n.swiftpm/\nPackage.resolved\n*.so\n*.dylib\n"),
      ("Sources/\(n)/\(n)Plugin.swift", ScaffoldTemplates.plugin(kind)),
      ("Sources/\(n)/RuntimeEntryPoints.swift", ScaffoldTemplates.entryPoints),
      ("Sources/\(n)/\(n)\(ScaffoldTemplates.typeSuffix(kind)).swift", ScaffoldTemplates.implementation(kind)),
      ("Tests/\(n)Tests/\(n)Tests.swift", ScaffoldTemplates.tests(kind)),
    ].map { ($0.0, render($0.1)) }
  }

  func render(_ template: String) -> String {
    template.replacingOccurrences(of: "__NAME__", with: names.type)
      .replacingOccurrences(of: "__SNAKE__", with: names.snake)
      .replacingOccurrences(of: "__KIND__", with: kind.rawValue)
      .replacingOccurrences(of: "__QATKIT_PATH__", with: qatkitPath)
  }

  /// Writes the package as `directory/<Name>`: into a temporary folder next to it first, renamed
  /// into place when every file is written, so a failure never leaves half a package.
  ///
  /// - Throws: ``CLIError/input(_:)`` when the target exists, ``CLIError/failure(_:)`` when a
  ///   write fails.
  func write(into directory: URL) throws -> URL {
    let fm = FileManager.default
    let target = directory.appendingPathComponent(names.type)
    if fm.fileExists(atPath: target.path) {
      throw CLIError.input("\(target.path) already exists: pick another name or --out DIR")
    }
    let temporary = directory.appendingPathComponent(".\(names.type).new-plugin-\(ProcessInfo.processInfo.processIdentifier)")
    do {
      try fm.createDirectory(at: directory, withIntermediateDirectories: true)
      try? fm.removeItem(at: temporary)
      for (path, text) in files {
        let url = temporary.appendingPathComponent(path)
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
      }
      try fm.moveItem(at: temporary, to: target)
    } catch {
      try? fm.removeItem(at: temporary)
      throw CLIError.failure("cannot write the package into \(directory.path): \(error)")
    }
    return target
  }
}
