import QATKit

/// A process-wide registry that may be extended at run time (for example by a plugin loader)
/// while other threads look names up. Reads take a snapshot value, so hot paths never hold the
/// lock.
public final class SharedRegistry: Sendable {
  // Not `Synchronization.Mutex`, which ThreadSanitizer cannot see (see QATKit's `Locked`).
  private let state: Locked<Registry>

  /// Wraps an initial registry.
  public init(_ registry: Registry = .builtin) { state = Locked(registry) }

  /// The current registry value.
  public func snapshot() -> Registry { state.withLock { $0 } }

  /// Registers a plugin atomically.
  public func register(_ plugin: any QATPlugin.Type) throws {
    try state.withLock { try $0.register(plugin) }
  }
}
