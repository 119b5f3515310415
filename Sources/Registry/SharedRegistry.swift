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

  /// Changes the registry under the lock: `body` works on a copy that replaces the shared
  /// value only if `body` returns (all or nothing).
  public func update<T>(_ body: (inout Registry) throws -> T) rethrows -> T {
    try state.withLock { shared in
      var copy = shared
      let result = try body(&copy)
      shared = copy
      return result
    }
  }
}
