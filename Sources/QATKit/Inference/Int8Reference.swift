#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain implementation of the integer layer the C kernels are tested against (bit for bit):
/// exact `Int32` sums of signed codes, then the epilogue with the same float operations in the
/// same order (`Float(acc) · d`, `+ bias`, activation, `rint(y · m)` clamped).
package enum Int8Reference {
  /// The input code of `x`: `clamp(rint(x · multiplier), minCode, 127)`, clamping before the
  /// rounding as the kernels do (the same result, the bounds being integers).
  package static func quantize(_ x: Float, multiplier: Float, minCode: Int) -> Int32 {
    var v = x * multiplier
    v = v > Float(minCode) ? v : Float(minCode)
    v = v < 127 ? v : 127
    return Int32(v.rounded(.toNearestOrEven))
  }

  /// `y = act(Float(Σₖ codes[r, k] · weights[n, k]) · dequant[n] + bias[n])` for `rows` rows, and
  /// `quantize(y)` with `nextMultiplier` when given.
  package static func linear(
    codes: [Int32], rows: Int, k: Int, weights: [Int8], n: Int, dequant: [Float], bias: [Float]?,
    activation: Int8Activation, nextMultiplier: Float?, nextMinCode: Int = -128
  ) -> (values: [Float], codes: [Int32]) {
    var values = [Float](repeating: 0, count: rows * n)
    var next = [Int32](repeating: 0, count: nextMultiplier == nil ? 0 : rows * n)
    for r in 0..<rows {
      for c in 0..<n {
        var acc: Int32 = 0
        for i in 0..<k { acc += codes[r * k + i] * Int32(weights[c * k + i]) }
        var y = Float(acc) * dequant[c]
        if let bias { y = y + bias[c] }
        switch activation {
        case .none: break
        case .relu: y = y > 0 ? y : 0
        case .gelu: y = 0.5 * y * (1 + erff(y * 0.70710678118654752))
        }
        values[r * n + c] = y
        if let m = nextMultiplier { next[r * n + c] = quantize(y, multiplier: m, minCode: nextMinCode) }
      }
    }
    return (values, next)
  }
}
