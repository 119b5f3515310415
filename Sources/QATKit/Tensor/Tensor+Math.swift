extension Tensor {
  /// Elementwise `e^x`.
  public func exp() -> Tensor {
    let out = map(name: "exp") { _expf($0) }
    let y = out.detach()  // the closure must not capture `out` (a cycle through its gradFn)
    return out.recording("exp", inputs: [self]) { g in [g * y] }
  }

  /// Elementwise natural logarithm.
  public func log() -> Tensor {
    let x = self
    return map(name: "log") { _logf($0) }.recording("log", inputs: [x]) { g in [g / x.detach()] }
  }

  /// Elementwise square root.
  public func sqrt() -> Tensor {
    let out = map(name: "sqrt") { $0.squareRoot() }
    let y = out.detach()
    return out.recording("sqrt", inputs: [self]) { g in [g / (y * 2)] }
  }

  /// Elementwise absolute value; the gradient at 0 is 0.
  public func abs() -> Tensor {
    let x = self
    return map(name: "abs") { Swift.abs($0) }.recording("abs", inputs: [x]) { g in
      [g * x.map(name: "sign") { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }]
    }
  }

  /// Elementwise hyperbolic tangent.
  public func tanh() -> Tensor {
    let out = map(name: "tanh") { _tanhf($0) }
    let y = out.detach()
    return out.recording("tanh", inputs: [self]) { g in
      [g * y.map(name: "dtanh") { 1 - $0 * $0 }]
    }
  }

  /// Elementwise logistic sigmoid `1 / (1 + e^-x)`.
  public func sigmoid() -> Tensor {
    let out = map(name: "sigmoid") { $0 >= 0 ? 1 / (1 + _expf(-$0)) : _expf($0) / (1 + _expf($0)) }
    let y = out.detach()
    return out.recording("sigmoid", inputs: [self]) { g in
      [g * y.map(name: "dsigmoid") { $0 * (1 - $0) }]
    }
  }

  /// Elementwise rectified linear unit; the gradient at 0 is 0.
  ///
  /// The backward is one fused pass, `x > 0 ? g : 0` (PyTorch's `threshold_backward`: masked
  /// lanes are `+0.0` even for an infinite or NaN `g`). Both passes split large tensors across
  /// cores.
  public func relu() -> Tensor {
    let n = count
    let out = [Float](unsafeUninitializedCapacity: n) { o, initialized in
      storage.withUnsafeBufferPointer { p in
        if let P = p.baseAddress, let O = o.baseAddress {
          parallelChunks(total: n, grain: kernelGrain) { r in
            Elementwise.vs(MaxKernel.self, P + r.lowerBound, 0, O + r.lowerBound, r.count)
          }
        }
      }
      initialized = n
    }
    let x = self
    return Tensor(shape: shape, storage: out).recording("relu", inputs: [x]) { g in
      let gi = [Float](unsafeUninitializedCapacity: n) { o, initialized in
        g.storage.withUnsafeBufferPointer { gp in
          x.storage.withUnsafeBufferPointer { xp in
            guard let O = o.baseAddress, let G = gp.baseAddress, let X = xp.baseAddress else { return }
            parallelChunks(total: n, grain: kernelGrain) { r in
              var i = r.lowerBound
              let zero = SIMD16<Float>()
              while i &+ 16 <= r.upperBound {
                storeVector(zero.replacing(with: loadVector(G + i), where: loadVector(X + i) .> zero), O + i)
                i &+= 16
              }
              while i < r.upperBound {
                O[i] = X[i] > 0 ? G[i] : 0
                i &+= 1
              }
            }
          }
        }
        initialized = n
      }
      return [Tensor(shape: x.shape, storage: gi)]
    }
  }

  /// Elementwise GELU with the exact error function, `x · Φ(x)` (PyTorch's default).
  ///
  /// One vectorized pass per direction (``GELUKernels``); ``geluComposite()`` is the libm
  /// version the tests compare against.
  public func gelu() -> Tensor {
    let x = self
    let n = count
    let y = [Float](unsafeUninitializedCapacity: n) { o, initialized in
      storage.withUnsafeBufferPointer { p in
        if let P = p.baseAddress, let O = o.baseAddress { GELUKernels.forward(P, O, n) }
      }
      initialized = n
    }
    return Tensor(shape: shape, storage: y).recording("gelu", inputs: [x]) { g in
      let dx = [Float](unsafeUninitializedCapacity: n) { o, initialized in
        g.storage.withUnsafeBufferPointer { gp in
          x.storage.withUnsafeBufferPointer { xp in
            if let G = gp.baseAddress, let X = xp.baseAddress, let O = o.baseAddress { GELUKernels.backward(G, X, O, n) }
          }
        }
        initialized = n
      }
      return [Tensor(shape: x.shape, storage: dx)]
    }
  }

  /// GELU with libm's `erff` per element, the reference for ``gelu()``.
  package func geluComposite() -> Tensor {
    let x = self
    return map(name: "gelu") { GELUKernels.referenceForward($0) }.recording("gelu", inputs: [x]) { g in
      [g * x.map(name: "dgelu") { GELUKernels.referenceDerivative($0) }]
    }
  }

  /// Clamps values into `[lo, hi]`; the gradient passes where `lo <= x <= hi`.
  public func clamped(_ lo: Float, _ hi: Float) -> Tensor {
    let x = self
    return map(name: "clamp") { Swift.min(Swift.max($0, lo), hi) }.recording("clamp", inputs: [x]) { g in
      [g * x.map(name: "dclamp") { $0 >= lo && $0 <= hi ? 1 : 0 }]
    }
  }
}
