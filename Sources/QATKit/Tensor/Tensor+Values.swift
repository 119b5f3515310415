/// Reading and writing a tensor's values from kernels (plugins included).
///
/// A tensor's values are one contiguous row-major `[Float]`. Kernels read them through
/// ``withUnsafeBufferPointer(_:)`` (or the ``scalars`` copy-on-write array), create their
/// outputs with ``init(shape:initializingWith:)`` and attach a backward with
/// ``recording(_:inputs:backward:)``:
///
/// ```swift
/// let y = try Tensor(shape: x.shape) { out in
///   x.withUnsafeBufferPointer { input in
///     for i in 0..<input.count { out[i] = (input[i] / step).rounded(.toNearestOrEven) * step }
///   }
/// }
/// ```
///
/// Writing in place (``withUnsafeMutableBufferPointer(_:)``, ``assign(values:)``) bypasses
/// autodiff: use it on tensors you own (fresh outputs, state such as a learned range when
/// you initialize it), never on a tensor that a recorded operation still needs for its
/// backward pass.
extension Tensor {
  /// Creates a tensor of `shape` whose values `body` writes; every element must be written
  /// (the buffer starts uninitialized).
  ///
  /// - Throws: ``TensorError/invalidShape(_:)`` for a negative dimension or an element count
  ///   that overflows, or whatever `body` throws.
  public convenience init(
    shape: [Int], requiresGrad: Bool = false,
    initializingWith body: (_ values: UnsafeMutableBufferPointer<Float>) throws -> Void
  ) throws {
    try Tensor.validate(shape: shape)
    let n = shape.reduce(1, *)
    let values = try [Float](unsafeUninitializedCapacity: n) { buffer, count in
      try body(buffer)
      count = n
    }
    self.init(shape: shape, storage: values, requiresGrad: requiresGrad)
  }

  /// Calls `body` with the values in row-major order (no copy).
  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try storage.withUnsafeBufferPointer(body)
  }

  /// Calls `body` with the values for writing in place (no autodiff record; see the
  /// extension's documentation for when that is safe). The count cannot change.
  public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
    try storage.withUnsafeMutableBufferPointer { try body($0) }
  }

  /// Replaces the values in place from a flat row-major array, keeping shape and identity
  /// (how optimizers, state loading and quantizer initialization update tensors).
  ///
  /// - Throws: ``TensorError/shapeMismatch(_:)`` when `values.count` is not ``count``.
  public func assign(values: [Float]) throws {
    guard values.count == storage.count else {
      throw TensorError.shapeMismatch("cannot assign \(values.count) values to a tensor of shape \(shape) (\(storage.count) elements)")
    }
    storage = values
  }
}
