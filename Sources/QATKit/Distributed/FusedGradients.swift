/// Every parameter's gradient in one contiguous buffer, so a data-parallel step sums all of
/// them across ranks with a single all-reduce (one message instead of one per tensor; what
/// PyTorch DDP calls a bucket, here one bucket for the whole model).
///
/// Layout: the gradients in parameter order (`offsets[i]` is where parameter `i` starts), then
/// one presence flag per parameter (1 when this rank has a gradient for it), then `extras`
/// values the caller sums along (the weighted loss). ``pack(scale:extras:)`` writes
/// `gradient × scale` (zeros and flag 0 for a parameter without gradient); after the sum,
/// ``unpack(divisor:)`` sets each parameter's gradient to its slice divided by `divisor`, or
/// leaves it `nil` when no rank had one (so optimizers skip it as in a single process).
package final class FusedGradients {
  /// The parameters, in buffer order.
  package let parameters: [Tensor]
  /// Start of each parameter's gradient in ``buffer``.
  package let offsets: [Int]
  /// Number of gradient values (the sum of the parameter sizes).
  package let gradientCount: Int
  /// Number of extra values after the flags.
  package let extraCount: Int
  /// Gradients, flags, extras.
  package var buffer: [Float]

  /// A buffer for `parameters` and `extras` extra values.
  package init(_ parameters: [Tensor], extras: Int = 0) {
    self.parameters = parameters
    var offsets: [Int] = []
    var n = 0
    for p in parameters {
      offsets.append(n)
      n += p.count
    }
    self.offsets = offsets
    gradientCount = n
    extraCount = extras
    buffer = [Float](repeating: 0, count: n + parameters.count + extras)
  }

  /// Bytes one all-reduce moves per rank and step (gradients, flags, extras; 4 bytes each).
  package var byteCount: Int { buffer.count * MemoryLayout<Float>.size }

  /// Writes every gradient times `scale`, the presence flags and `extras`.
  package func pack(scale: Float, extras: [Float] = []) {
    precondition(extras.count == extraCount, "FusedGradients: \(extras.count) extras for \(extraCount) slots")
    let flags = gradientCount
    buffer.withUnsafeMutableBufferPointer { out in
      for (i, p) in parameters.enumerated() {
        let start = offsets[i]
        if let g = p.grad {
          precondition(g.count == p.count, "gradient of \(g.shape) for a parameter of \(p.shape)")
          g.storage.withUnsafeBufferPointer { gb in
            for j in 0..<gb.count { out[start &+ j] = gb[j] * scale }
          }
          out[flags &+ i] = 1
        } else {
          for j in 0..<p.count { out[start &+ j] = 0 }
          out[flags &+ i] = 0
        }
      }
      for (k, e) in extras.enumerated() { out[flags &+ parameters.count &+ k] = e }
    }
  }

  /// Sets each parameter's gradient to its slice divided by `divisor` (or `nil` where every
  /// flag was 0) and returns the extras divided by `divisor`.
  @discardableResult
  package func unpack(divisor: Float) -> [Float] {
    let flags = gradientCount
    return buffer.withUnsafeBufferPointer { b in
      for (i, p) in parameters.enumerated() {
        guard b[flags &+ i] > 0 else {
          p.grad = nil
          continue
        }
        let start = offsets[i]
        let g = [Float](unsafeUninitializedCapacity: p.count) { out, count in
          for j in 0..<p.count { out[j] = b[start &+ j] / divisor }
          count = p.count
        }
        p.grad = Tensor(shape: p.shape, storage: g)
      }
      return (0..<extraCount).map { b[flags &+ parameters.count &+ $0] / divisor }
    }
  }
}
