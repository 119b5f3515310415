import Foundation

/// Reading sentence files (one sentence per line) as user input.
enum TextLines {
  /// The lines of the UTF-8 text file at `url`: split at `\n`, a trailing `\r` dropped from
  /// each line, no line after a final newline. With `skipEmpty`, empty lines are dropped (as
  /// ModelOpt's reference script reads its sentence files).
  ///
  /// - Throws: ``CLIError/input(_:)`` when the file cannot be read or is not UTF-8.
  static func read(_ url: URL, skipEmpty: Bool) throws -> [String] {
    guard let data = FileManager.default.contents(atPath: url.path) else {
      throw CLIError.input("cannot read \(url.path): the file does not exist or is not readable")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw CLIError.input("\(url.path) is not UTF-8 text")
    }
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
      line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
    }
    if lines.last == "" { lines.removeLast() }
    return skipEmpty ? lines.filter { !$0.isEmpty } : lines
  }
}
