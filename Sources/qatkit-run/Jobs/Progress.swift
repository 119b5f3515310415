import Foundation

/// Progress of long work on stderr (through ``Console``: silent with `--quiet` and on MPI ranks
/// other than 0): one line rewritten in place (`\r`) at most every half second on a terminal,
/// otherwise a plain line every 10 seconds, with the elapsed time and an estimate of what is
/// left.
final class Progress {
  private let label: String
  private let total: Int
  private let start = Date()
  private var lastPrint = Date.distantPast
  private let interactive: Bool

  /// Starts a progress line for `total` units of work.
  init(_ label: String, total: Int) {
    self.label = label
    self.total = total
    interactive = Console.stderrIsTerminal
  }

  /// Reports `done` units finished, with an optional note (a loss, ...).
  func update(_ done: Int, note: String = "") {
    let now = Date()
    guard done >= total || now.timeIntervalSince(lastPrint) >= (interactive ? 0.5 : 10) else { return }
    lastPrint = now
    let elapsed = now.timeIntervalSince(start)
    let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
    let line = String(format: "%@ %d/%d %@ %.0f s elapsed, ~%.0f s left", label, done, total, note, elapsed, eta)
    Console.progress((interactive ? "\r\u{1B}[K" : "") + line + (interactive ? "" : "\n"))
  }

  /// Ends the line.
  func finish() {
    if interactive { Console.progress("\n") }
  }

  /// Prints one line of status on stderr (``Console/note(_:)``).
  static func note(_ message: String) { Console.note(message) }
}
