/// A binary elementwise operation with scalar and SIMD forms, specialized at compile time.
package protocol BinaryKernel: SendableMetatype {
  static func apply(_ a: Float, _ b: Float) -> Float
  static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float>
}

package enum AddKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a + b }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a + b }
}
package enum SubKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a - b }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a - b }
}
package enum MulKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a * b }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a * b }
}
package enum DivKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a / b }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a / b }
}
package enum MaxKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a > b ? a : b }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    a.replacing(with: b, where: b .> a)
  }
}
package enum MinKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a < b ? a : b }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    a.replacing(with: b, where: b .< a)
  }
}
package enum GreaterKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a > b ? 1 : 0 }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    SIMD16<Float>(repeating: 0).replacing(with: 1, where: a .> b)
  }
}
package enum LessKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a < b ? 1 : 0 }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    SIMD16<Float>(repeating: 0).replacing(with: 1, where: a .< b)
  }
}
package enum GreaterEqualKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a >= b ? 1 : 0 }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    SIMD16<Float>(repeating: 0).replacing(with: 1, where: a .>= b)
  }
}
package enum LessEqualKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a <= b ? 1 : 0 }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    SIMD16<Float>(repeating: 0).replacing(with: 1, where: a .<= b)
  }
}
package enum EqualKernel: BinaryKernel {
  @inline(__always) package static func apply(_ a: Float, _ b: Float) -> Float { a == b ? 1 : 0 }
  @inline(__always) package static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    SIMD16<Float>(repeating: 0).replacing(with: 1, where: a .== b)
  }
}

/// Contiguous loops for binary kernels: vector-vector, vector-scalar, scalar-vector.
package enum Elementwise {
  @inline(__always)
  package static func vv<K: BinaryKernel>(
    _: K.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b), ro = UnsafeMutableRawPointer(o)
    while i &+ 16 <= n {
      let va = ra.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      let vb = rb.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      ro.storeBytes(of: K.apply(va, vb), toByteOffset: i &* 4, as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < n { o[i] = K.apply(a[i], b[i]); i &+= 1 }
  }

  @inline(__always)
  package static func vs<K: BinaryKernel>(
    _: K.Type, _ a: UnsafePointer<Float>, _ b: Float, _ o: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    var i = 0
    let vb = SIMD16<Float>(repeating: b)
    let ra = UnsafeRawPointer(a), ro = UnsafeMutableRawPointer(o)
    while i &+ 16 <= n {
      let va = ra.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      ro.storeBytes(of: K.apply(va, vb), toByteOffset: i &* 4, as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < n { o[i] = K.apply(a[i], b); i &+= 1 }
  }

  @inline(__always)
  package static func sv<K: BinaryKernel>(
    _: K.Type, _ a: Float, _ b: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    var i = 0
    let va = SIMD16<Float>(repeating: a)
    let rb = UnsafeRawPointer(b), ro = UnsafeMutableRawPointer(o)
    while i &+ 16 <= n {
      let vb = rb.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      ro.storeBytes(of: K.apply(va, vb), toByteOffset: i &* 4, as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < n { o[i] = K.apply(a, b[i]); i &+= 1 }
  }
}
