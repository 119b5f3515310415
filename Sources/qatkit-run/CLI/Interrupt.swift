import Foundation

/// Ctrl-C handling: the first SIGINT asks the running job to stop at its next step (training
/// steps, calibration batches and stage boundaries check ``check()``), so the command ends
/// with exit code 130 after every file it started is complete: files are written atomically
/// (temporary file, then rename). A second Ctrl-C exits at once.
enum Interrupt {
  /// Installs the handler (once, at start-up).
  static func install() {
    _ = interruptMessage.count  // initialize before any signal can arrive
    // A parent may have started us with SIGINT blocked (the mask is inherited); unblock it.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigprocmask(SIG_UNBLOCK, &set, nil)
    signal(SIGINT) { _ in
      if interruptRequested != 0 { _exit(130) }
      interruptRequested = 1
      interruptMessage.withUnsafeBufferPointer { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
  }

  /// Whether Ctrl-C was pressed.
  static var requested: Bool { interruptRequested != 0 }

  /// Throws ``CLIError/interrupted`` once Ctrl-C was pressed.
  static func check() throws {
    if requested { throw CLIError.interrupted }
  }
}

/// Set from the signal handler; read on the main thread.
nonisolated(unsafe) private var interruptRequested: sig_atomic_t = 0
nonisolated(unsafe) private var interruptMessage: [UInt8] = Array(
  "\nstopping after the current step (Ctrl-C again to quit at once)\n".utf8)
