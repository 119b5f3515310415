import QATKit

/// The key mask of the batch being run, shared by a model's attention layers.
///
/// QATKit modules take one tensor, so `BertModel` runs its encoder inside
/// ``withKeyMask(_:_:)`` and each ``BertSelfAttention`` reads ``keyMask``. The mask is bound to
/// the current task (or thread), not stored on the model: two threads may run the same model in
/// evaluation mode on differently padded batches at once, and each sees its own mask. A layer
/// run on its own (benchmarks, tests) sees no mask and attends to every position.
public final class AttentionMaskContext: Sendable {
  /// The mask bound by the innermost ``withKeyMask(_:_:)`` on this task, with its context.
  @TaskLocal private static var active: ActiveMask?

  /// `[B, T]`: nonzero keeps a key; `nil` keeps all. Set only inside ``withKeyMask(_:_:)``.
  public var keyMask: Tensor? {
    guard let active = Self.active, active.context == ObjectIdentifier(self) else { return nil }
    return active.mask
  }

  /// Creates a context.
  public init() {}

  /// Runs `body` with ``keyMask`` equal to `mask` on the current task; the previous mask is
  /// back when `body` returns.
  public func withKeyMask<R>(_ mask: Tensor?, _ body: () throws -> R) rethrows -> R {
    try Self.$active.withValue(mask.map { ActiveMask(context: ObjectIdentifier(self), mask: $0) }) { try body() }
  }
}

/// A mask bound to one context. The tensor is made by the forward pass that binds it and only
/// read afterwards, so sharing it across the task's child tasks is safe.
private struct ActiveMask: @unchecked Sendable {
  let context: ObjectIdentifier
  let mask: Tensor
}
