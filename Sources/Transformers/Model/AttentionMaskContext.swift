import QATKit

/// The key mask of the batch being run, shared by a model's attention layers.
///
/// QATKit modules take one tensor, so `BertModel` sets the mask here before running the
/// encoder (and clears it after); each ``BertSelfAttention`` reads it. A layer run on its
/// own (benchmarks, tests) sees no mask and attends to every position.
public final class AttentionMaskContext {
  /// `[B, T]`: nonzero keeps a key; `nil` keeps all.
  public var keyMask: Tensor?

  /// Creates an empty context.
  public init() {}
}
