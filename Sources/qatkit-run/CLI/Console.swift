import Foundation

/// Where the tool's text goes: results on stdout, progress and notes on stderr; `--quiet`
/// silences progress and notes (results and errors still print). In an MPI job only rank 0
/// prints results, notes and progress (the other ranks' stdout is `/dev/null`, and they are
/// ``secondaryRank``); errors print on every rank.
enum Console {
  /// Set by the global `--quiet` flag.
  nonisolated(unsafe) static var quiet = false
  /// Set on ranks other than 0 of an MPI job: no notes or progress (rank 0 prints them).
  nonisolated(unsafe) static var secondaryRank = false

  /// Whether stderr is a terminal (progress redraws one line there).
  static let stderrIsTerminal: Bool = isatty(STDERR_FILENO) != 0

  /// A result line on stdout.
  static func result(_ line: String = "") { print(line) }

  /// A note on stderr, unless quiet.
  static func note(_ line: String) {
    guard !quiet, !secondaryRank else { return }
    fflush(nil)  // results on stdout first
    FileHandle.standardError.write(Data((line + "\n").utf8))
  }

  /// Raw text on stderr (progress), unless quiet.
  static func progress(_ text: String) {
    guard !quiet, !secondaryRank else { return }
    fflush(nil)  // results on stdout first
    FileHandle.standardError.write(Data(text.utf8))
  }
}
