import QATKit

/// Errors from registration, lookup, conversion and checkpoints.
public enum RegistryError: Error, Equatable, CustomStringConvertible {
  /// A name that is not registered for a kind: the known names and the nearest match.
  case unknownName(kind: String, name: String, known: [String], suggestion: String?)
  /// A name registered twice for the same kind.
  case duplicateName(kind: String, name: String, existingPlugin: String)
  /// A mode recorded in a checkpoint whose plugin is not registered.
  case missingPlugin(mode: String, plugin: String)
  /// A mode that may not follow the previous one.
  case chainNotAllowed(previous: String, next: String, allowed: [String])
  /// An export mode that does not close the pending mode.
  case exportMismatch(mode: String, pending: String?)
  /// A mode's config or application failed; the model is unchanged.
  case modeFailed(mode: String, index: Int, reason: String)
  /// A checkpoint that cannot be read or does not fit the model; nothing was changed.
  case checkpoint(String)
  /// A checkpoint format version this build cannot read.
  case unsupportedFormat(found: Int, supported: ClosedRange<Int>)

  /// What happened and what to do.
  public var description: String {
    switch self {
    case .unknownName(let kind, let name, let known, let suggestion):
      return "unknown \(kind) '\(name)'" + (suggestion.map { " — did you mean '\($0)'?" } ?? "")
        + " Known: \(known.isEmpty ? "(none)" : known.joined(separator: ", "))."
    case .duplicateName(let kind, let name, let plugin):
      return "\(kind) '\(name)' is already registered (by \(plugin)); names must be unique"
    case .missingPlugin(let mode, let plugin):
      return "the checkpoint uses mode '\(mode)' from plugin '\(plugin)', which is not registered: "
        + "add it with registry.register(\(plugin)Plugin.self) (or use InTreePlugins.registry)"
    case .chainNotAllowed(let prev, let next, let allowed):
      return "mode '\(next)' may not follow '\(prev)'; allowed after '\(prev)': \(allowed.isEmpty ? "nothing" : allowed.joined(separator: ", "))"
    case .exportMismatch(let mode, let pending):
      return "export mode '\(mode)' does not close the pending mode" + (pending.map { " (expected '\($0)')" } ?? " (no mode awaits export)")
    case .modeFailed(let mode, let index, let reason):
      return "mode #\(index + 1) '\(mode)' failed, the model is unchanged: \(reason)"
    case .checkpoint(let m): return "checkpoint: \(m)"
    case .unsupportedFormat(let found, let supported):
      return "checkpoint format version \(found) is not supported (this build reads \(supported.lowerBound)...\(supported.upperBound)); upgrade QATKit"
    }
  }
}
