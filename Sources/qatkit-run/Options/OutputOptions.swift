import Foundation

/// `--out DIR`, `--output FILE`, `--json FILE`, `--report FILE`.
struct OutputOptions {
  static func specs(defaultFile: String?, report: Bool) -> [OptionSpec] {
    var s: [OptionSpec] = [.option("--out", "DIR", "where checkpoints go (default: runs/<data name>; the digits reference job: runs)")]
    if let defaultFile { s.append(.option("--output", "FILE", "the checkpoint to write (default: DIR/\(defaultFile))")) }
    s.append(.option("--json", "FILE", "write the results as JSON"))
    if report { s.append(.option("--report", "FILE", "the HTML report (default: DIR/report.html)")) }
    return s
  }

  let out: URL?
  let output: URL?
  let json: URL?
  let report: URL?

  init(_ a: ParsedArguments) {
    out = a.url("--out")
    output = a.url("--output")
    json = a.url("--json")
    report = a.url("--report")
  }

  /// The output directory: given, else `runs/<data name>` (`runs/digits` for bundled data).
  func directory(for data: PreparedData) -> URL {
    out ?? URL(fileURLWithPath: "runs").appendingPathComponent(
      data.record.file.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent } ?? "digits")
  }

  /// The checkpoint file: `--output`, else `DIR/name`.
  func file(_ name: String, data: PreparedData) -> URL { output ?? directory(for: data).appendingPathComponent(name) }
}

/// The command line as typed, for reports (`qatkit-run --data iris.csv ...`).
func commandLineText(_ command: String? = nil) -> String {
  let args = CommandLine.arguments.dropFirst().map { a in
    a.contains(where: { $0 == " " || $0 == "'" || $0 == "\"" }) ? "'\(a.replacingOccurrences(of: "'", with: "'\\''"))'" : a
  }
  return (["qatkit-run"] + args).joined(separator: " ")
}
