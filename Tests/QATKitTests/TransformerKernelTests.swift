import Testing

import QATPluginTesting
import QATTestSupport

@testable import QATKit

/// The transformer kernels (vector exp/erf, LayerNorm, GELU, masked softmax, strided head
/// products) against their plain references, and the tensor operations built on them against
/// finite differences and against the composite operations they replace.
@Suite("Transformer kernels")
struct TransformerKernelTests {
  static func values(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = RandomGenerator(seed: seed)
    return (0..<count).map { _ in Float.random(in: -1..<1, using: &rng) * scale }
  }

  /// Applies a 16-lane function to every value (tails padded).
  static func lanes(_ xs: [Float], _ f: (SIMD16<Float>) -> SIMD16<Float>) -> [Float] {
    var out: [Float] = []
    var i = 0
    while i < xs.count {
      var v = SIMD16<Float>(repeating: 0)
      for j in 0..<16 where i + j < xs.count { v[j] = xs[i + j] }
      let r = f(v)
      for j in 0..<16 where i + j < xs.count { out.append(r[j]) }
      i += 16
    }
    return out
  }

  @Test("vector exp is within 4 ulp of libm; 0, inf and NaN at the edges")
  func vectorExp() {
    var xs = Self.values(4000, seed: 1, scale: 87)
    xs += [0, -0.0, 1, -1, 1e-8, -1e-8, 88.7, -87.3, 0.34657, -0.34657]
    let got = Self.lanes(xs, VectorMath.exp)
    for (x, y) in zip(xs, got) {
      let ref = VectorMath.referenceExp(x)
      #expect(Swift.abs(y - ref) <= 4 * ref.ulp, "exp(\(x)) = \(y), libm \(ref)")
    }
    let special: [Float] = [-.infinity, .infinity, -100, 100, -87.4, 89, .nan]
    let s = Self.lanes(special, VectorMath.exp)
    #expect(s[0] == 0 && s[1] == .infinity && s[2] == 0 && s[3] == .infinity && s[4] == 0 && s[5] == .infinity)
    #expect(s[6].isNaN)
  }

  @Test("vector erf is within 5e-7 of libm; ±1 in the tails")
  func vectorErf() {
    let xs = Self.values(4000, seed: 2, scale: 6) + [0, 1e-6, -1e-6, 4, -4, 10, -10]
    let got = Self.lanes(xs, VectorMath.erf)
    let worst = zip(xs, got).map { Swift.abs($1 - VectorMath.referenceErf($0)) }.max()!
    #expect(worst <= 5e-7, "max |erf - libm| = \(worst)")
    #expect(Self.lanes([10, -10], VectorMath.erf) == [1, -1])
  }

  @Test("strided head products match the reference for every transpose combination", arguments: [
    (false, false), (false, true), (true, false), (true, true),
  ])
  func stridedProducts(ta: Bool, tb: Bool) {
    for (i, (m, n, k)) in [(1, 1, 1), (4, 32, 8), (5, 17, 3), (7, 47, 32), (13, 33, 20), (3, 64, 1), (9, 16, 5), (16, 128, 32), (19, 40, 6)].enumerated() {
      // Leading dimensions wider than the matrices, as for one head inside [T, D].
      let lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2
      let a = Self.values((ta ? k : m) * lda, seed: UInt64(10 + i))
      let b = Self.values((tb ? n : k) * ldb, seed: UInt64(20 + i))
      var expected = [Float](repeating: .nan, count: m * ldc)
      GEMM.stridedReference(a, lda: lda, transposeA: ta, b, ldb: ldb, transposeB: tb, &expected, ldc: ldc, m: m, n: n, k: k)
      var got = [Float](repeating: .nan, count: m * ldc)
      var scratch = [Float](repeating: .nan, count: GEMM.stridedScratchCount(n: n, k: k))
      a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
          got.withUnsafeMutableBufferPointer { pc in
            scratch.withUnsafeMutableBufferPointer { ps in
              GEMM.stridedMultiply(pa.baseAddress!, lda: lda, transposeA: ta, pb.baseAddress!, ldb: ldb, transposeB: tb,
                                   pc.baseAddress!, ldc: ldc, m: m, n: n, k: k, scratch: ps.baseAddress!)
            }
          }
        }
      }
      for r in 0..<m {
        for c in 0..<ldc {
          let (x, y) = (got[r * ldc + c], expected[r * ldc + c])
          // Columns past n stay untouched.
          if c >= n { #expect(x.isNaN); continue }
          #expect(isClose(x, y, atol: 1e-5, rtol: 1e-5), "m \(m) n \(n) k \(k) [\(r), \(c)]: \(x) vs \(y)")
        }
      }
    }
  }

  @Test("LayerNorm kernels match the Double reference", arguments: [(7, 19), (3, 384), (130, 33)])
  func layerNormKernels(rows: Int, d: Int) {
    let x = Self.values(rows * d, seed: 3, scale: 3).enumerated().map { $0.element + Float($0.offset % 5) }
    let gamma = Self.values(d, seed: 4), beta = Self.values(d, seed: 5)
    let g = Self.values(rows * d, seed: 6)
    let ref = LayerNormKernels.referenceForward(x, gamma: gamma, beta: beta, rows: rows, d: d, eps: 1e-12)
    let t = Tensor(shape: [rows, d], storage: x, requiresGrad: true)
    let gm = Tensor(shape: [d], storage: gamma, requiresGrad: true), bt = Tensor(shape: [d], storage: beta, requiresGrad: true)
    let y = t.layerNorm(gamma: gm, beta: bt, eps: 1e-12)
    let close1 = allClose(y.scalars, ref.y, atol: 2e-5, rtol: 1e-5)
    #expect(close1, "forward max diff \(maxAbsDifference(y.scalars, ref.y))")
    y.backward(Tensor(shape: [rows, d], storage: g))
    let back = LayerNormKernels.referenceBackward(g, x, gamma: gamma, rows: rows, d: d, eps: 1e-12)
    let close2 = allClose(t.grad!.scalars, back.dx, atol: 1e-4, rtol: 1e-4)
    #expect(close2, "dx max diff \(maxAbsDifference(t.grad!.scalars, back.dx))")
    let close3 = allClose(gm.grad!.scalars, back.dgamma, atol: 1e-4, rtol: 1e-4)
    #expect(close3)
    let close4 = allClose(bt.grad!.scalars, back.dbeta, atol: 1e-4, rtol: 1e-4)
    #expect(close4)
  }

  @Test("fused LayerNorm equals the composite one, with and without gamma/beta; finite differences")
  func layerNormOp() {
    let x = GradientCheck.randn([2, 3, 5], seed: 7, std: 2)
    let gamma = GradientCheck.randn([5], seed: 8), beta = GradientCheck.randn([5], seed: 9)
    let close5 = allClose(x.layerNorm(gamma: gamma, beta: beta).scalars, x.layerNormComposite(gamma: gamma, beta: beta).scalars, atol: 1e-5)
    #expect(close5)
    let close6 = allClose(x.layerNorm().scalars, x.layerNormComposite().scalars, atol: 1e-5)
    #expect(close6)
    let report = GradientCheck.check([x, gamma, beta], h: 1e-2, atol: 2e-3) { x.layerNorm(gamma: gamma, beta: beta, eps: 1e-12) }
    #expect(report.passed, "\(report)")
  }

  @Test("GELU kernels: values and derivative against libm, gradient by finite differences")
  func gelu() {
    let xs = Self.values(1000, seed: 10, scale: 8) + [0, -0.0, 1e-7, -6, 6, 10, -10]
    let x = Tensor(shape: [xs.count], storage: xs, requiresGrad: true)
    let y = x.gelu()
    let ref = x.geluComposite()
    let close7 = allClose(y.scalars, ref.scalars, atol: 1e-6, rtol: 1e-6)
    #expect(close7, "max diff \(maxAbsDifference(y.scalars, ref.scalars))")
    y.backward(Tensor(shape: [xs.count], storage: [Float](repeating: 1, count: xs.count)))
    let dref = xs.map(GELUKernels.referenceDerivative)
    let close8 = allClose(x.grad!.scalars, dref, atol: 1e-6, rtol: 1e-5)
    #expect(close8, "max diff \(maxAbsDifference(x.grad!.scalars, dref))")
    let small = GradientCheck.randn([3, 7], seed: 11, std: 2)
    let report = GradientCheck.check([small], h: 1e-2, atol: 1e-3) { small.gelu() }
    #expect(report.passed, "\(report)")
  }

  @Test("masked softmax: kernel against the reference, masked keys exactly 0, all-masked rows 0")
  func maskedSoftmax() {
    let (b, h, t, s) = (3, 2, 4, 21)
    let scores = Self.values(b * h * t * s, seed: 12, scale: 20)
    var mask = [Float](repeating: 1, count: b * s)
    for j in 13..<s { mask[j] = 0 }  // batch 0: 13 keys
    for j in [0, 5, 20] { mask[s + j] = 0 }  // batch 1: holes
    for j in 0..<s { mask[2 * s + j] = 0 }  // batch 2: nothing
    let x = Tensor(shape: [b, h, t, s], storage: scores, requiresGrad: true)
    let m = Tensor(shape: [b, s], storage: mask)
    let p = x.maskedSoftmax(scale: 0.3, keyMask: m)
    let ref = SoftmaxKernels.referenceForward(scores, rows: b * h * t, n: s, scale: 0.3, mask: mask, rowsPerMask: h * t)
    let close9 = allClose(p.scalars, ref, atol: 1e-6, rtol: 1e-5)
    #expect(close9, "max diff \(maxAbsDifference(p.scalars, ref))")
    for r in 0..<(b * h * t) {
      for j in 0..<s where mask[(r / (h * t)) * s + j] == 0 { #expect(p.scalars[r * s + j] == 0) }
    }
    let g = Self.values(b * h * t * s, seed: 13)
    p.backward(Tensor(shape: p.shape, storage: g))
    let dref = SoftmaxKernels.referenceBackward(g, p.scalars, rows: b * h * t, n: s, scale: 0.3)
    let close10 = allClose(x.grad!.scalars, dref, atol: 1e-6, rtol: 1e-5)
    #expect(close10)
    // Unmasked: equals the existing softmax of the scaled scores.
    let plain = Tensor(shape: [2, 3, 17], storage: Self.values(102, seed: 14, scale: 5))
    let close11 = allClose(plain.maskedSoftmax(scale: 0.5).scalars, (plain * 0.5).softmax(axis: -1).scalars, atol: 1e-6)
    #expect(close11)
    let small = GradientCheck.randn([2, 1, 2, 5], seed: 15)
    let sm = Tensor(shape: [2, 5], storage: [1, 1, 1, 0, 0, 1, 0, 1, 1, 1])
    let report = GradientCheck.check([small], h: 1e-2, atol: 1e-3) { small.maskedSoftmax(scale: 0.7, keyMask: sm) }
    #expect(report.passed, "\(report)")
  }

  /// Attention through the new operations against permute + batched matmul + softmax.
  @Test("attention operations equal the permuted composite and pass finite differences")
  func attentionOps() {
    let (b, t, heads, dh) = (2, 4, 2, 3)
    let d = heads * dh
    let q = GradientCheck.randn([b, t, d], seed: 16), k = GradientCheck.randn([b, t, d], seed: 17)
    let v = GradientCheck.randn([b, t, d], seed: 18)
    let scale = 1 / Float(dh).squareRoot()
    let s = Tensor.attentionScores(query: q, key: k, heads: heads)
    let p = s.maskedSoftmax(scale: scale)
    let ctx = Tensor.attentionContext(probabilities: p, value: v, heads: heads)
    func split(_ y: Tensor) -> Tensor { y.reshapedUnchecked([b, t, heads, dh]).permuted([0, 2, 1, 3]) }
    let sRef = Tensor.matmul(split(q), transposed: split(k))
    let close12 = allClose(s.scalars, sRef.scalars, atol: 1e-5)
    #expect(close12)
    let ctxRef = (sRef * scale).softmax(axis: -1).matmul(split(v)).permuted([0, 2, 1, 3]).reshapedUnchecked([b, t, d])
    let close13 = allClose(ctx.scalars, ctxRef.scalars, atol: 1e-5)
    #expect(close13)
    let mask = Tensor(shape: [b, t], storage: [1, 1, 1, 0, 1, 1, 1, 1])
    let report = GradientCheck.check([q, k, v], h: 1e-2, atol: 2e-3) {
      let p = Tensor.attentionScores(query: q, key: k, heads: heads).maskedSoftmax(scale: scale, keyMask: mask)
      return Tensor.attentionContext(probabilities: p, value: v, heads: heads)
    }
    #expect(report.passed, "\(report)")
  }

  @Test("fused linear equals matmul + bias bit for bit, gradients included; finite differences")
  func fusedLinear() {
    for shape in [[5, 7], [2, 3, 7]] {
      let x = GradientCheck.randn(shape, seed: 19), w = GradientCheck.randn([4, 7], seed: 20), b = GradientCheck.randn([4], seed: 21)
      for t in [x, w, b] { t.requiresGrad = true }
      let fused = Tensor.linear(x, weight: w, bias: b)
      let g = GradientCheck.randn(fused.shape, seed: 22)
      fused.backward(g)
      let (gx, gw, gb) = (x.grad!.scalars, w.grad!.scalars, b.grad!.scalars)
      x.zeroGrad(); w.zeroGrad(); b.zeroGrad()
      let plain = Tensor.matmul(x, transposed: w) + b
      plain.backward(g)
      #expect(fused.shape == plain.shape && fused.scalars == plain.scalars)
      #expect(gx == x.grad!.scalars && gw == w.grad!.scalars && gb == b.grad!.scalars)
      let report = GradientCheck.check([x, w, b], h: 1e-2, atol: 1e-3) { Tensor.linear(x, weight: w, bias: b) }
      #expect(report.passed, "\(report)")
    }
    let x = GradientCheck.randn([3, 7], seed: 23), w = GradientCheck.randn([4, 7], seed: 24)
    #expect(Tensor.linear(x, weight: w, bias: nil).scalars == Tensor.matmul(x, transposed: w).scalars)
  }
}
