import QATTestSupport
import Testing

@testable import QATKit
import QATPluginTesting

@Suite("TensorTests: creation")
struct TensorCreationTests {
  @Test("zeros, ones, full, arange")
  func constructors() {
    #expect(Tensor.zeros([2, 3]).scalars == [Float](repeating: 0, count: 6))
    #expect(Tensor.zeros([2, 3]).shape == [2, 3])
    #expect(Tensor.ones([4]).scalars == [1, 1, 1, 1])
    #expect(Tensor.full([2, 2], 7.5).scalars == [7.5, 7.5, 7.5, 7.5])
    #expect(Tensor.zeros([0, 3]).count == 0)
    #expect(Tensor.arange(0, 5).scalars == [0, 1, 2, 3, 4])
    #expect(Tensor.arange(1, 2, step: 0.25).scalars == [1, 1.25, 1.5, 1.75])
    #expect(Tensor.arange(3, 0, step: -1).scalars == [3, 2, 1])
    #expect(Tensor.arange(2, 2).count == 0)
    #expect(Tensor(scalar: 3).shape == [])
    #expect(Tensor(scalar: 3).item == 3)
  }

  @Test("initializers throw on bad shapes and counts")
  func initThrows() throws {
    let t = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
    #expect(t.shape == [2, 3] && t.rank == 2 && t.count == 6)
    #expect(throws: TensorError.self) { try Tensor([1, 2, 3], shape: [2, 2]) }
    #expect(throws: TensorError.self) { try Tensor([], shape: [-1, 0]) }
    #expect(throws: TensorError.self) { try Tensor([1], shape: [Int.max, 4]) }
    #expect(throws: TensorError.self) { try Tensor(rows: [[1, 2], [3]]) }
    let rows = try Tensor(rows: [[1, 2], [3, 4], [5, 6]])
    #expect(rows.shape == [3, 2] && rows.scalars == [1, 2, 3, 4, 5, 6])
    do {
      _ = try Tensor([1, 2, 3], shape: [2, 2])
    } catch {
      #expect("\(error)".contains("[2, 2]"))
    }
  }

  @Test("seeded uniform and randn reproduce fixed first values (independent xoshiro256** reference)")
  func seededValues() {
    // Computed with a separate Python implementation of SplitMix64 + xoshiro256**.
    var g = RandomGenerator(seed: 42)
    #expect(g.next() == 1_546_998_764_402_558_742)
    #expect(g.next() == 6_990_951_692_964_543_102)
    var u = RandomGenerator(seed: 42)
    #expect(Tensor.uniform([4], using: &u).scalars == [0.08386296033859253, 0.37898021936416626, 0.6800433993339539, 0.9246929287910461])
    var n = RandomGenerator(seed: 42)
    let normal = Tensor.randn([4], using: &n).scalars
    #expect(allClose(normal, [-1.6132237911224365, 0.7816920280456543, 0.01587129384279251, 0.47721680998802185], atol: 0, rtol: 1e-6))
    var a = RandomGenerator(seed: 9), b = RandomGenerator(seed: 9)
    #expect(Tensor.randn([50], using: &a).scalars == Tensor.randn([50], using: &b).scalars)
    var c = RandomGenerator(seed: 10)
    #expect(Tensor.randn([50], using: &c).scalars != Tensor.randn([50], using: &a).scalars)
  }

  @Test("seeded draws have sane moments and ranges")
  func moments() {
    var g = RandomGenerator(seed: 3)
    let n = Tensor.randn([20_000], mean: 2, std: 3, using: &g).scalars.map(Double.init)
    let mean = n.reduce(0, +) / Double(n.count)
    let variance = n.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n.count)
    #expect(Swift.abs(mean - 2) < 0.1)
    #expect(Swift.abs(variance.squareRoot() - 3) < 0.1)
    let u = Tensor.uniform([20_000], low: -1, high: 3, using: &g).scalars
    #expect(u.allSatisfy { $0 >= -1 && $0 < 3 })
    let um = u.reduce(0, +) / Float(u.count)
    #expect(Swift.abs(um - 1) < 0.05)
    var p = RandomGenerator(seed: 4)
    #expect(p.permutation(100).sorted() == Array(0..<100))
  }
}

@Suite("TensorTests: arithmetic and reductions")
struct TensorArithmeticTests {
  @Test("broadcasting results")
  func broadcasting() throws {
    let a = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
    let row = Tensor([10, 20, 30])
    let col = try Tensor([100, 200], shape: [2, 1])
    #expect((a + row).scalars == [11, 22, 33, 14, 25, 36])
    #expect((a + col).scalars == [101, 102, 103, 204, 205, 206])
    #expect((row + col).shape == [2, 3])
    #expect((row + col).scalars == [110, 120, 130, 210, 220, 230])
    #expect((a * Tensor(scalar: 2)).scalars == [2, 4, 6, 8, 10, 12])
    #expect((a - row).scalars == [-9, -18, -27, -6, -15, -24])
    #expect((row / a).scalars == [10, 10, 10, 2.5, 4, 5])
    let b = try Tensor([1, 2], shape: [2, 1, 1])
    let c = try Tensor([1, 2, 3], shape: [1, 3, 1])
    let d = Tensor([1, 10])
    let s = b * c + d
    #expect(s.shape == [2, 3, 2])
    #expect(s.scalars == [2, 11, 3, 12, 4, 13, 3, 12, 5, 14, 7, 16])
    // Long enough for the SIMD paths plus a scalar tail.
    let long = Tensor((0..<37).map(Float.init))
    #expect((long + long).scalars == (0..<37).map { Float(2 * $0) })
    #expect((Tensor.maximum(long, Tensor(scalar: 20))).scalars == (0..<37).map { Float(Swift.max($0, 20)) })
    #expect(Tensor.minimum(a, row).scalars == [1, 2, 3, 4, 5, 6])
    #expect((a.pow(2)).scalars == [1, 4, 9, 16, 25, 36])
  }

  @Test("comparison masks")
  func masks() throws {
    let a = Tensor([1, 2, 3, 4])
    let b = Tensor([4, 2, 1, 5])
    #expect(a.gt(b).scalars == [0, 0, 1, 0])
    #expect(a.lt(b).scalars == [1, 0, 0, 1])
    #expect(a.ge(b).scalars == [0, 1, 1, 0])
    #expect(a.le(b).scalars == [1, 1, 0, 1])
    #expect(a.eq(b).scalars == [0, 1, 0, 0])
    #expect(a.gt(2).scalars == [0, 0, 1, 1])
    #expect(a.eq(3).scalars == [0, 0, 1, 0])
    let m = try Tensor([1, 5], shape: [2, 1]).ge(Tensor([0, 3, 6]))
    #expect(m.shape == [2, 3] && m.scalars == [1, 0, 0, 1, 1, 0])
  }

  @Test("reductions, argmax and extrema")
  func reductions() throws {
    let x = try Tensor([3, -1, 4, 1, -5, 9, 2, 6, 5, 3, 5, -8], shape: [2, 3, 2])
    #expect(x.sum().item == 24)
    #expect(x.mean().item == 2)
    #expect(x.sum(axis: 0).scalars == [5, 5, 9, 4, 0, 1])
    #expect(x.sum(axis: 1).scalars == [2, 9, 12, 1])
    #expect(x.sum(axis: -1, keepDims: true).shape == [2, 3, 1])
    #expect(x.sum(axis: -1).scalars == [2, 5, 4, 8, 8, -3])
    #expect(x.mean(axis: 1).scalars == [2 / 3, 3, 4, 1 / 3])
    #expect(x.max(axis: 1).scalars == [4, 9, 5, 6])
    #expect(x.min(axis: 2).scalars == [-1, 1, -5, 2, 3, -8])
    #expect(x.argmax(axis: 1) == [1, 2, 1, 0])  // 2, 5, 5: the first maximum wins
    #expect(x.argmax(axis: -1) == [0, 0, 1, 1, 0, 0])
    #expect(Tensor([2, 7, 7, 1]).argmax() == [1])
    #expect(x.absMax() == 9)
    #expect(x.absMax(axis: 0).scalars == [3, 6, 5, 3, 5, 9])
    #expect(Tensor((0..<40).map(Float.init)).sum().item == 780)
  }

  @Test("softmax is stable with huge logits and sums to 1")
  func softmaxStable() throws {
    let x = try Tensor([1000, 1001, 1002, -1000, 0, 1000, 3e38, 1e38, 0], shape: [3, 3])
    let p = x.softmax(axis: -1)
    #expect(p.scalars.allSatisfy { $0.isFinite })
    let e = [Float(1), Float(M_E_f), Float(M_E_f * M_E_f)]
    let total = e.reduce(0, +)
    #expect(allClose(Array(p.scalars[0..<3]), e.map { $0 / total }, atol: 1e-6))
    #expect(allClose(p.sum(axis: -1).scalars, [1, 1, 1], atol: 1e-6))
    let lp = x.logSoftmax(axis: -1)
    #expect(lp.scalars.allSatisfy { $0.isFinite })
    #expect(isClose(lp.scalars[0], -Float(_logf(total)), atol: 1e-5))
    #expect(isClose(lp.scalars[7], -2e38, atol: 0, rtol: 1e-6))
    #expect(lp.scalars[6] == 0)
    #expect(allClose(x.softmax(axis: 0).sum(axis: 0).scalars, [1, 1, 1], atol: 1e-6))
  }
}

private let M_E_f: Float = 2.718281828459045

@Suite("TensorTests: shapes")
struct TensorShapeTests {
  @Test("reshape infers -1 and rejects bad shapes")
  func reshape() throws {
    let x = Tensor((0..<12).map(Float.init))
    #expect(try x.reshaped([3, -1]).shape == [3, 4])
    #expect(try x.reshaped([-1, 2, 2]).shape == [3, 2, 2])
    #expect(try x.reshaped([2, 6]).scalars == x.scalars)
    #expect(throws: TensorError.self) { try x.reshaped([5, -1]) }
    #expect(throws: TensorError.self) { try x.reshaped([5, 2]) }
    #expect(throws: TensorError.self) { try x.reshaped([-1, -1]) }
    #expect(throws: TensorError.self) { try x.reshaped([-2, -6]) }
    #expect(throws: TensorError.self) { try x.reshaped([0, -1]) }
  }

  @Test("permute, transpose, slice, concat, gather values")
  func layout() throws {
    let x = try Tensor((0..<6).map(Float.init), shape: [2, 3])
    #expect(x.transposed().shape == [3, 2])
    #expect(x.transposed().scalars == [0, 3, 1, 4, 2, 5])
    let y = try Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
    let p = y.permuted([2, 0, 1])
    #expect(p.shape == [4, 2, 3])
    #expect(p.scalars[0..<6] == [0, 4, 8, 12, 16, 20])
    #expect(p.scalars[6..<12] == [1, 5, 9, 13, 17, 21])
    #expect(y.slice(axis: 1, 1..<2).scalars == [4, 5, 6, 7, 16, 17, 18, 19])
    #expect(Tensor.concat([x, x.slice(axis: 1, 0..<1)], axis: 1).scalars == [0, 1, 2, 0, 3, 4, 5, 3])
    #expect(x.gather([2, 0], axis: 1).scalars == [2, 0, 5, 3])
    #expect(x.unsqueezed(0).shape == [1, 2, 3])
    #expect(y.flattened(from: 1).shape == [2, 12])
    #expect(x.broadcast(to: [2, 2, 3]).scalars == x.scalars + x.scalars)
  }

  @Test("matmul values: 2-D, batched, shared, transposed")
  func matmulValues() throws {
    let a = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
    let b = try Tensor([7, 8, 9, 10, 11, 12], shape: [3, 2])
    #expect(a.matmul(b).scalars == [58, 64, 139, 154])
    #expect(Tensor.matmul(a, transposed: b.transposed()).scalars == [58, 64, 139, 154])
    let batch = Tensor.concat([a.unsqueezed(0), (a * 2).unsqueezed(0)], axis: 0)
    #expect(batch.matmul(b).scalars == [58, 64, 139, 154, 116, 128, 278, 308])
    // Sizes that exercise full 4x16 blocks plus row and column remainders.
    var g = RandomGenerator(seed: 5)
    let m = Tensor.randn([9, 7], using: &g), n = Tensor.randn([7, 21], using: &g)
    let c = m.matmul(n)
    var expected = [Float](repeating: 0, count: 9 * 21)
    for i in 0..<9 {
      for j in 0..<21 {
        var s: Double = 0
        for k in 0..<7 { s += Double(m.scalars[i * 7 + k]) * Double(n.scalars[k * 21 + j]) }
        expected[i * 21 + j] = Float(s)
      }
    }
    #expect(allClose(c.scalars, expected, atol: 1e-5, rtol: 1e-5))
    #expect(allClose(Tensor.matmul(m, transposed: n.transposed()).scalars, expected, atol: 1e-5, rtol: 1e-5))
  }
}

@Suite("TensorTests: autodiff")
struct TensorAutodiffTests {
  @Test("withoutGrad records nothing")
  func noGrad() {
    let x = Tensor([1, 2, 3], requiresGrad: true)
    let y = Tensor.withoutGrad { (x * 2 + 1).exp() }
    #expect(!y.requiresGrad)
    #expect(y.isLeaf)
    #expect(Tensor.withoutGrad { Tensor.isGradEnabled } == false)
    #expect(Tensor.isGradEnabled)
    let z = x * 2
    #expect(z.requiresGrad && !z.isLeaf)
  }

  @Test("detach cuts the graph")
  func detach() {
    let x = Tensor([1, 2, 3], requiresGrad: true)
    let d = (x * 3).detach()
    #expect(!d.requiresGrad && d.isLeaf && d.scalars == [3, 6, 9])
    let y = (x * d).sum()
    y.backward()
    #expect(x.grad?.scalars == [3, 6, 9])
  }

  @Test("gradients accumulate across backward calls until zeroGrad")
  func accumulation() {
    let x = Tensor([1, 2], requiresGrad: true)
    (x * x).sum().backward()
    #expect(x.grad?.scalars == [2, 4])
    (x * 3).sum().backward()
    #expect(x.grad?.scalars == [5, 7])
    x.zeroGrad()
    #expect(x.grad == nil)
    x.sum().backward()
    #expect(x.grad?.scalars == [1, 1])
  }

  @Test("a value used several times gets the sum of its gradients")
  func reuse() {
    let x = Tensor([2, -1], requiresGrad: true)
    let y = x + x  // the add backward hands the same gradient object to both inputs
    let z = (y * x + x.exp() + x).sum()
    z.backward()
    // d/dx (2x² + eˣ + x) = 4x + eˣ + 1
    let expected = x.scalars.map { 4 * $0 + _expf($0) + 1 }
    #expect(allClose(x.grad?.scalars ?? [], expected, atol: 1e-5))
    let w = Tensor([3], requiresGrad: true)
    let h = w * w
    (h + h * h).sum().backward()  // w² + w⁴ → 2w + 4w³
    #expect(w.grad?.scalars == [6 + 108])
  }

  @Test("backward with an explicit gradient and on non-scalars")
  func explicitSeed() throws {
    let x = Tensor([1, 2, 3], requiresGrad: true)
    let y = x * x
    y.backward(Tensor([1, 0, 2]))
    #expect(x.grad?.scalars == [2, 0, 12])
  }

  @Test("custom op via recording: straight-through round")
  func customOp() {
    func steRound(_ x: Tensor) -> Tensor {
      let out = Tensor(x.scalars.map { $0.rounded() })
      return out.recording("steRound", inputs: [x]) { g in [g] }
    }
    let x = Tensor([0.2, 1.7, -2.4], requiresGrad: true)
    let y = steRound(x)
    #expect(y.scalars == [0, 2, -2])
    (y * Tensor([1, 2, 3])).sum().backward()
    #expect(x.grad?.scalars == [1, 2, 3])
    let frozen = Tensor([0.6])
    #expect(steRound(frozen).isLeaf)  // nothing recorded when no input requires a gradient
    let inside = Tensor.withoutGrad { steRound(x) }
    #expect(inside.isLeaf)
  }
}
