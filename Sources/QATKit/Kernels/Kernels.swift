/// Small contiguous-buffer kernels shared by tensor operations.
package enum Kernels {
  /// Sum of all values, accumulated in 16 lanes (then pairwise), in `Float`.
  package static func sum(_ x: [Float]) -> Float {
    x.withUnsafeBufferPointer { sum($0.baseAddress!, $0.count) }
  }

  /// Sum of `n` values at `p`.
  package static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i &+ 16 <= n {
      acc += raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      i &+= 16
    }
    var s = acc.sum()
    while i < n { s += p[i]; i &+= 1 }
    return s
  }

  /// Maximum of `|x|` over `n` values (NaN ignored).
  package static func absMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i &+ 16 <= n {
      let x = raw.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      let v = x.replacing(with: -x, where: x .< 0)
      acc = acc.replacing(with: v, where: v .> acc)
      i &+= 16
    }
    var m = acc.max()
    while i < n { let v = abs(p[i]); if v > m { m = v }; i &+= 1 }
    return m
  }

  /// `y[i] += a * x[i]`.
  package static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let va = SIMD16<Float>(repeating: a)
    var i = 0
    let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
    while i &+ 16 <= n {
      let vx = rx.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      let vy = ry.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
      ry.storeBytes(of: vy + va * vx, toByteOffset: i &* 4, as: SIMD16<Float>.self)
      i &+= 16
    }
    while i < n { y[i] += a * x[i]; i &+= 1 }
  }
}
