import Foundation

/// A value behind a lock that ThreadSanitizer understands.
///
/// `Synchronization.Mutex` locks with `futex` system calls on Linux, which ThreadSanitizer does
/// not intercept: it sees the accesses inside `withLock` from two threads without the ordering
/// the lock gives them and reports a race on every one (a 20-line program with `Mutex` gets the
/// same report; with `NSLock`, none). `NSLock` is a pthread mutex, which TSan models, so the
/// sanitizer run stays green and meaningful. The few locks in QATKit guard short critical
/// sections (a buffer pool, a registry snapshot), where the difference in speed does not show.
package final class Locked<Value>: @unchecked Sendable {
  private let lock = NSLock()
  private var value: Value

  /// Wraps `value`.
  package init(_ value: Value) { self.value = value }

  /// Runs `body` with exclusive access to the value.
  package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
    lock.lock()
    defer { lock.unlock() }
    return try body(&value)
  }
}
