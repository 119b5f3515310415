extension Tensor {
  /// Applies `K` with broadcasting, without recording.
  package static func broadcasting<K: BinaryKernel>(_ k: K.Type, _ a: Tensor, _ b: Tensor, _ name: String) -> Tensor {
    guard let shape = Broadcast.shape(a.shape, b.shape) else {
      preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) do not broadcast")
    }
    return Tensor(shape: shape, storage: Broadcast.apply(k, a, b, outShape: shape))
  }

  /// Elementwise sum with NumPy broadcasting.
  public static func + (a: Tensor, b: Tensor) -> Tensor {
    broadcasting(AddKernel.self, a, b, "+").recording("add", inputs: [a, b]) { g in
      [Broadcast.sum(g, to: a.shape), Broadcast.sum(g, to: b.shape)]
    }
  }

  /// Elementwise difference with NumPy broadcasting.
  public static func - (a: Tensor, b: Tensor) -> Tensor {
    broadcasting(SubKernel.self, a, b, "-").recording("sub", inputs: [a, b]) { g in
      [Broadcast.sum(g, to: a.shape), b.requiresGrad ? Broadcast.sum(-g, to: b.shape) : nil]
    }
  }

  /// Elementwise product with NumPy broadcasting.
  public static func * (a: Tensor, b: Tensor) -> Tensor {
    broadcasting(MulKernel.self, a, b, "*").recording("mul", inputs: [a, b]) { g in
      [
        a.requiresGrad ? Broadcast.sum(g * b, to: a.shape) : nil,
        b.requiresGrad ? Broadcast.sum(g * a, to: b.shape) : nil,
      ]
    }
  }

  /// Elementwise quotient with NumPy broadcasting.
  public static func / (a: Tensor, b: Tensor) -> Tensor {
    broadcasting(DivKernel.self, a, b, "/").recording("div", inputs: [a, b]) { g in
      [
        a.requiresGrad ? Broadcast.sum(g / b, to: a.shape) : nil,
        b.requiresGrad ? Broadcast.sum(-(g * a) / (b * b), to: b.shape) : nil,
      ]
    }
  }

  /// Elementwise maximum with broadcasting; the gradient goes to `a` where `a >= b`.
  public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
    broadcasting(MaxKernel.self, a, b, "maximum").recording("maximum", inputs: [a, b]) { g in
      let m = broadcasting(GreaterEqualKernel.self, a, b, "maximum")
      return [Broadcast.sum(g * m, to: a.shape), Broadcast.sum(g * (1 - m), to: b.shape)]
    }
  }

  /// Elementwise minimum with broadcasting; the gradient goes to `a` where `a <= b`.
  public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
    broadcasting(MinKernel.self, a, b, "minimum").recording("minimum", inputs: [a, b]) { g in
      let m = broadcasting(LessEqualKernel.self, a, b, "minimum")
      return [Broadcast.sum(g * m, to: a.shape), Broadcast.sum(g * (1 - m), to: b.shape)]
    }
  }

  /// Negation.
  public static prefix func - (a: Tensor) -> Tensor { a * -1 }

  /// Adds a constant.
  public static func + (a: Tensor, s: Float) -> Tensor { scalarOp(AddKernel.self, a, s, "add") { g in g } }
  /// Adds a constant.
  public static func + (s: Float, a: Tensor) -> Tensor { a + s }
  /// Subtracts a constant.
  public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
  /// Subtracts from a constant.
  public static func - (s: Float, a: Tensor) -> Tensor { (a * -1) + s }
  /// Multiplies by a constant.
  public static func * (a: Tensor, s: Float) -> Tensor {
    scalarOp(MulKernel.self, a, s, "scale") { g in g * s }
  }
  /// Multiplies by a constant.
  public static func * (s: Float, a: Tensor) -> Tensor { a * s }
  /// Divides by a constant.
  public static func / (a: Tensor, s: Float) -> Tensor {
    scalarOp(DivKernel.self, a, s, "divscalar") { g in g / s }
  }
  /// Divides a constant by each element.
  public static func / (s: Float, a: Tensor) -> Tensor { Tensor(scalar: s) / a }

  private static func scalarOp<K: BinaryKernel>(
    _ k: K.Type, _ a: Tensor, _ s: Float, _ name: String, _ back: @escaping (Tensor) -> Tensor
  ) -> Tensor {
    var out = [Float](repeating: 0, count: a.count)
    a.storage.withUnsafeBufferPointer { pa in
      out.withUnsafeMutableBufferPointer { po in
        if let A = pa.baseAddress, let O = po.baseAddress { Elementwise.vs(k, A, s, O, a.count) }
      }
    }
    return Tensor(shape: a.shape, storage: out).recording(name, inputs: [a]) { g in [back(g)] }
  }

  /// Elementwise power by a constant exponent.
  public func pow(_ p: Float) -> Tensor {
    let x = self
    return map(name: "pow", { _powf($0, p) }).recording("pow", inputs: [x]) { g in
      [g * x.map(name: "dpow") { p * _powf($0, p - 1) }]
    }
  }

  /// Squares each element.
  public func squared() -> Tensor { self * self }

  // MARK: Comparison masks (no gradient)

  /// 1 where `self > other`, else 0 (broadcasting).
  public func gt(_ other: Tensor) -> Tensor { Tensor.broadcasting(GreaterKernel.self, self, other, "gt") }
  /// 1 where `self < other`, else 0 (broadcasting).
  public func lt(_ other: Tensor) -> Tensor { Tensor.broadcasting(LessKernel.self, self, other, "lt") }
  /// 1 where `self >= other`, else 0 (broadcasting).
  public func ge(_ other: Tensor) -> Tensor { Tensor.broadcasting(GreaterEqualKernel.self, self, other, "ge") }
  /// 1 where `self <= other`, else 0 (broadcasting).
  public func le(_ other: Tensor) -> Tensor { Tensor.broadcasting(LessEqualKernel.self, self, other, "le") }
  /// 1 where `self == other`, else 0 (broadcasting).
  public func eq(_ other: Tensor) -> Tensor { Tensor.broadcasting(EqualKernel.self, self, other, "eq") }
  /// 1 where `self > value`, else 0.
  public func gt(_ value: Float) -> Tensor { gt(Tensor(scalar: value)) }
  /// 1 where `self < value`, else 0.
  public func lt(_ value: Float) -> Tensor { lt(Tensor(scalar: value)) }
  /// 1 where `self >= value`, else 0.
  public func ge(_ value: Float) -> Tensor { ge(Tensor(scalar: value)) }
  /// 1 where `self <= value`, else 0.
  public func le(_ value: Float) -> Tensor { le(Tensor(scalar: value)) }
  /// 1 where `self == value`, else 0.
  public func eq(_ value: Float) -> Tensor { eq(Tensor(scalar: value)) }

  // MARK: In-place helpers (no recording)

  /// `self += other` elementwise, same shape; used for gradient accumulation.
  package func addInPlace(_ other: Tensor) {
    precondition(other.count == count, "addInPlace: \(other.shape) vs \(shape)")
    let n = count
    other.storage.withUnsafeBufferPointer { po in
      storage.withUnsafeMutableBufferPointer { ps in
        guard let S = ps.baseAddress, let O = po.baseAddress else { return }
        Elementwise.vv(AddKernel.self, S, O, S, n)
      }
    }
  }

  /// Applies a scalar function elementwise without recording (for non-vectorizable math).
  @inline(__always)
  package func map(name: String, _ f: (Float) -> Float) -> Tensor {
    var out = [Float](repeating: 0, count: count)
    storage.withUnsafeBufferPointer { p in
      out.withUnsafeMutableBufferPointer { o in
        for i in 0..<p.count { o[i] = f(p[i]) }
      }
    }
    return Tensor(shape: shape, storage: out)
  }
}
