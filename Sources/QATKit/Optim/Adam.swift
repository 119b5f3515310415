/// Adam (Kingma & Ba) with PyTorch's update rule; `decoupledWeightDecay` makes it AdamW.
public final class Adam: Optimizer {
  /// Learning rate.
  public var learningRate: Float
  /// Exponential decay rates of the moment estimates.
  public let beta1: Float, beta2: Float
  /// Added to the denominator.
  public let eps: Float
  /// Weight decay: L2 on the gradient (Adam) or decoupled (AdamW).
  public let weightDecay: Float
  /// Whether weight decay is decoupled (AdamW).
  public let decoupledWeightDecay: Bool
  private let params: [Tensor]
  private var m: [[Float]], v: [[Float]]
  private var t = 0

  /// Creates Adam over `parameters` (PyTorch defaults).
  public init(
    _ parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
    eps: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false
  ) {
    params = parameters
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.eps = eps
    self.weightDecay = weightDecay
    self.decoupledWeightDecay = decoupledWeightDecay
    m = parameters.map { [Float](repeating: 0, count: $0.count) }
    v = m
  }

  /// One Adam step on every parameter with a gradient.
  public func step() {
    t += 1
    let lr = learningRate, b1 = beta1, b2 = beta2, e = eps, wd = weightDecay, decoupled = decoupledWeightDecay
    let bc1 = 1 - _powf(b1, Float(t)), bc2 = 1 - _powf(b2, Float(t))
    let stepSize = lr / bc1, bc2Sqrt = bc2.squareRoot()
    for (i, p) in params.enumerated() {
      guard let g = p.grad else { continue }
      g.storage.withUnsafeBufferPointer { gb in
        m[i].withUnsafeMutableBufferPointer { mb in
          v[i].withUnsafeMutableBufferPointer { vb in
            p.storage.withUnsafeMutableBufferPointer { pb in
              guard let P = pb.baseAddress, let G = gb.baseAddress, let M = mb.baseAddress, let V = vb.baseAddress
              else { return }
              Adam.update(P, G, M, V, pb.count, lr: lr, b1: b1, b2: b2, eps: e, wd: wd, decoupled: decoupled,
                          stepSize: stepSize, bc2Sqrt: bc2Sqrt)
            }
          }
        }
      }
    }
  }

  /// The elementwise update, written so that it vectorizes; the operations and their order
  /// are those of the scalar formula (no fused multiply-add), so every lane is bit-identical.
  private static func update(
    _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
    _ v: UnsafeMutablePointer<Float>, _ n: Int, lr: Float, b1: Float, b2: Float, eps: Float, wd: Float,
    decoupled: Bool, stepSize: Float, bc2Sqrt: Float
  ) {
    if decoupled && wd != 0 { let f = 1 - lr * wd; for j in 0..<n { p[j] *= f } }
    // L2 weight decay adds `wd·p` to the gradient (Adam); AdamW applied it above instead.
    let l2: Float = decoupled ? 0 : wd
    // A branch-free scalar loop: LLVM vectorizes it (vsqrtps / vdivps); SIMD8.squareRoot()
    // would be scalarized lane by lane.
    for j in 0..<n {
      let gj = g[j] + l2 * p[j]
      let mj = b1 * m[j] + (1 - b1) * gj
      let vj = b2 * v[j] + (1 - b2) * gj * gj
      m[j] = mj
      v[j] = vj
      p[j] -= stepSize * mj / (vj.squareRoot() / bc2Sqrt + eps)
    }
  }

  /// Clears gradients.
  public func zeroGrad() { for p in params { p.grad = nil } }
}

/// AdamW: Adam with decoupled weight decay (default 0.01, as PyTorch).
public func AdamW(
  _ parameters: [Tensor], learningRate: Float = 1e-3, weightDecay: Float = 0.01
) -> Adam {
  Adam(parameters, learningRate: learningRate, weightDecay: weightDecay, decoupledWeightDecay: true)
}
