/// Updates parameters in place from their gradients.
public protocol Optimizer: AnyObject {
  /// The learning rate used by the next ``step()``; schedules set it.
  var learningRate: Float { get set }
  /// Applies one update to every parameter that has a gradient.
  func step()
  /// Clears the gradients of the parameters.
  func zeroGrad()
}

/// Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm before.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
  var total: Double = 0
  for p in parameters { if let g = p.grad { for v in g.storage { total += Double(v * v) } } }
  let norm = Float(total.squareRoot())
  if norm > maxNorm, norm > 0 {
    let scale = maxNorm / (norm + 1e-6)
    for p in parameters { if let g = p.grad { p.grad = Tensor.withoutGrad { g * scale } } }
  }
  return norm
}
