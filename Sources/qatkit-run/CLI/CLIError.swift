import QATExport
import QATKit
import QATRegistry

/// Errors the command line reports itself, with the exit code each maps to.
enum CLIError: Error, CustomStringConvertible {
  /// Bad arguments: an unknown command or option, a missing or malformed value (exit 2).
  case usage(String)
  /// Input that cannot be used: a missing file, a malformed data set or config (exit 2).
  case input(String)
  /// A failure while running (exit 1).
  case failure(String)
  /// Stopped by Ctrl-C (exit 130); files already written are complete.
  case interrupted

  var description: String {
    switch self {
    case .usage(let m), .input(let m), .failure(let m): m
    case .interrupted: "interrupted; every file written so far is complete, nothing was left half-written"
    }
  }
}

/// Exit codes: 0 success, 1 failure while running, 2 usage or input error, 130 interrupted.
enum ExitCode {
  static let success: Int32 = 0
  static let failure: Int32 = 1
  static let usage: Int32 = 2
  static let interrupted: Int32 = 130

  /// The exit code for an error that ended a command. Errors about the user's files, configs,
  /// data and arguments are input errors (2); anything else is a failure while running (1).
  static func forError(_ error: any Error) -> Int32 {
    switch error {
    case let e as CLIError:
      switch e {
      case .failure: return failure
      case .interrupted: return interrupted
      case .usage, .input: return usage
      }
    case let e as ExportError:
      // A failed self-verification is a failure of the export; everything else is about the
      // user's checkpoint, model or output path.
      if case .verificationFailed = e { return failure }
      return usage
    case is ConfigError, is DataError, is SafeTensorsError, is ModuleError, is TensorError,
      is QuantizerError, is KDError, is RegistryError, is PluginLoadError:
      return usage
    default:
      return failure
    }
  }
}
