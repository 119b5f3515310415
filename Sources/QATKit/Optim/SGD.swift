/// Stochastic gradient descent with momentum and L2 weight decay (PyTorch semantics).
public final class SGD: Optimizer {
  /// Learning rate.
  public var learningRate: Float
  /// Momentum factor (0 = none).
  public let momentum: Float
  /// L2 penalty added to the gradient.
  public let weightDecay: Float
  private let params: [Tensor]
  private var velocity: [[Float]]

  /// Creates the optimizer over `parameters`.
  public init(_ parameters: [Tensor], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
    params = parameters
    self.learningRate = learningRate
    self.momentum = momentum
    self.weightDecay = weightDecay
    velocity = parameters.map { [Float](repeating: 0, count: $0.count) }
  }

  /// `v = μv + g (+ λp)`, `p -= lr·v`.
  public func step() {
    let lr = learningRate, mu = momentum, wd = weightDecay
    for (i, p) in params.enumerated() {
      guard let g = p.grad else { continue }
      g.storage.withUnsafeBufferPointer { gb in
        velocity[i].withUnsafeMutableBufferPointer { vb in
          p.storage.withUnsafeMutableBufferPointer { pb in
            for j in 0..<pb.count {
              let d = gb[j] + wd * pb[j]
              let v = mu == 0 ? d : mu * vb[j] + d
              vb[j] = v
              pb[j] -= lr * v
            }
          }
        }
      }
    }
  }

  /// Clears gradients.
  public func zeroGrad() { for p in params { p.grad = nil } }
}
