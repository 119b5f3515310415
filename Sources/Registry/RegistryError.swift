import QATKit

/// Errors from registration, lookup, conversion and checkpoints.
public enum RegistryError: Error, Equatable, CustomStringConvertible {
  /// A name that is not registered for a kind: the known names and the nearest match.
  case unknownName(kind: String, name: String, known: [String], suggestion: String?)
  /// A name registered twice for the same kind.
  case duplicateName(kind: String, name: String, existingPlugin: String)
  /// A mode, quantizer algorithm or calibrator recorded in a checkpoint whose plugin is not
  /// registered.
  case missingPlugin(kind: Registry.Kind, name: String, plugin: String)
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
    case .missingPlugin(let kind, let name, let plugin):
      return "the checkpoint needs the \(kind.rawValue) '\(name)' from plugin '\(plugin)', which is not registered: "
        + "register the QATPlugin type whose name is \"\(plugin)\" (by convention \(plugin)Plugin: "
        + "registry.register(\(plugin)Plugin.self)); in-tree plugins are all in InTreePlugins.registry, "
        + "and qatkit-run loads a plugin library with --plugin PATH"
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
