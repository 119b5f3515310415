import Foundation

/// Training progress for one stage: on a terminal one line redrawn in place (stage, epoch,
/// step, loss, ETA); otherwise a few plain lines per stage (about five); nothing with
/// `--quiet`.
final class ProgressReporter {
  private let stage: String
  private let epochs: Int
  private let stepsPerEpoch: Int
  private let start = Date()
  private var lastDraw = Date.distantPast
  private var stepsDone = 0
  private let terminal = Console.stderrIsTerminal
  private var drewLine = false

  /// Starts reporting `stage` (e.g. `QAT  W4A4, max`).
  init(stage: String, epochs: Int, stepsPerEpoch: Int) {
    self.stage = stage
    self.epochs = epochs
    self.stepsPerEpoch = Swift.max(stepsPerEpoch, 1)
  }

  private var eta: String {
    guard stepsDone > 0 else { return "" }
    let total = epochs * stepsPerEpoch
    let left = Date().timeIntervalSince(start) / Double(stepsDone) * Double(Swift.max(total - stepsDone, 0))
    return left < 60 ? String(format: "ETA %.0fs", left) : String(format: "ETA %dm%02ds", Int(left) / 60, Int(left) % 60)
  }

  /// After each training step.
  func step(epoch: Int, step: Int, loss: Float) {
    stepsDone += 1
    guard terminal, Date().timeIntervalSince(lastDraw) > 0.1 else { return }
    lastDraw = Date()
    drewLine = true
    Console.progress(String(
      format: "\r\u{1B}[K%@  epoch %d/%d  step %d/%d  loss %.4f  %@", stage, epoch + 1, epochs, step + 1, stepsPerEpoch,
      abs(loss) < 5e-5 ? 0 : loss, eta))
  }

  /// After each epoch, with its mean loss and test accuracy.
  func epochEnd(epoch: Int, loss: Float, accuracy: Float) {
    let every = Swift.max(1, (epochs + 4) / 5)
    guard !terminal, epoch == 0 || (epoch + 1) % every == 0 || epoch + 1 == epochs else { return }
    Console.progress(String(format: "%@  epoch %d/%d  loss %.4f  test acc %.2f%%\n", stage, epoch + 1, epochs, loss, 100 * accuracy))
  }

  /// Clears the terminal line.
  func finish() {
    if terminal, drewLine { Console.progress("\r\u{1B}[K") }
  }
}
