import QATTestSupport
import Testing

@testable import QATKit
import QATPluginTesting

/// Runs a finite-difference check and records a failure with the report.
private func expectGradients(
  _ inputs: [Tensor], h: Float = 1e-2, atol: Float = 1e-3, rtol: Float = 1e-2,
  _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation,
  of f: ([Tensor]) -> Tensor
) {
  let report = GradientCheck.check(inputs, h: h, atol: atol, rtol: rtol, of: f)
  #expect(report.passed, "\(comment) \(report)", sourceLocation: sourceLocation)
}

private func randn(_ shape: [Int], _ seed: UInt64, std: Float = 1) -> Tensor {
  GradientCheck.randn(shape, seed: seed, std: std)
}

/// Values of random sign with magnitudes in `[0.5, 2)`: safe divisors.
private func awayFromZero(_ shape: [Int], _ seed: UInt64) -> Tensor {
  let mag = GradientCheck.uniform(shape, low: 0.5, high: 2, seed: seed)
  let sign = GradientCheck.separatedValues(shape, seed: seed &+ 1).scalars.map { $0 > 0 ? Float(1) : -1 }
  return try! Tensor(zip(mag.scalars, sign).map { $0 * $1 }, shape: shape)
}

private let broadcastPairs: [([Int], [Int])] = [
  ([2, 3], [2, 3]), ([2, 3], [3]), ([2, 3], [2, 1]), ([2, 3], [1, 3]), ([2, 3], []), ([], [2, 3]),
  ([2, 1, 3], [4, 1]), ([1, 3], [2, 1]), ([3], [2, 2, 3]),
]

@Suite("GradientCheck: elementwise")
struct ElementwiseGradientTests {
  @Test("a + b, a - b, a * b, a / b with broadcasting", arguments: broadcastPairs)
  func binaryBroadcast(_ shapes: ([Int], [Int])) {
    let (sa, sb) = shapes
    expectGradients([randn(sa, 1), randn(sb, 2)], "add") { $0[0] + $0[1] }
    expectGradients([randn(sa, 3), randn(sb, 4)], "sub") { $0[0] - $0[1] }
    expectGradients([randn(sa, 5), randn(sb, 6)], "mul") { $0[0] * $0[1] }
    expectGradients([randn(sa, 7), awayFromZero(sb, 8)], "div") { $0[0] / $0[1] }
  }

  @Test("only one operand requires a gradient")
  func oneSided() {
    let constant = randn([2, 3], 9)
    expectGradients([randn([3], 10)], "const - x") { constant - $0[0] }
    expectGradients([awayFromZero([2, 1], 11)], "const / x") { constant / $0[0] }
    expectGradients([randn([2, 3], 12)], "x * const") { $0[0] * constant }
  }

  @Test("scalar operators and negation")
  func scalarOps() {
    let x = randn([2, 3], 13)
    expectGradients([x]) { $0[0] + 1.5 }
    expectGradients([x]) { 1.5 + $0[0] }
    expectGradients([x]) { $0[0] - 0.25 }
    expectGradients([x]) { 2 - $0[0] }
    expectGradients([x]) { $0[0] * -3 }
    expectGradients([x]) { 0.5 * $0[0] }
    expectGradients([x]) { $0[0] / 4 }
    expectGradients([awayFromZero([2, 3], 14)]) { 3 / $0[0] }
    expectGradients([x]) { -$0[0] }
    expectGradients([x]) { $0[0].squared() }
  }

  @Test("pow with integer and fractional exponents")
  func pow() {
    expectGradients([randn([2, 3], 15)]) { $0[0].pow(3) }
    expectGradients([GradientCheck.uniform([2, 3], low: 0.5, high: 2, seed: 16)]) { $0[0].pow(1.5) }
    expectGradients([GradientCheck.uniform([2, 3], low: 0.5, high: 2, seed: 17)]) { $0[0].pow(-0.5) }
  }

  @Test("maximum and minimum, gradients to both sides with broadcasting")
  func maxMin() {
    // a and b interleave with gaps ≥ 0.05 so no sampled pair is within 2h of a tie.
    let v = GradientCheck.separatedValues([12], margin: 0.1, seed: 18).scalars
    let a = try! Tensor(Array(v[0..<6]), shape: [2, 3])
    let b = try! Tensor(Array(v[6..<9]), shape: [3])
    expectGradients([a, b], h: 1e-2) { Tensor.maximum($0[0], $0[1]) }
    expectGradients([a, b], h: 1e-2) { Tensor.minimum($0[0], $0[1]) }
  }

  @Test("exp, log, sqrt, abs, tanh, sigmoid")
  func unary() {
    expectGradients([randn([2, 3], 19)]) { $0[0].exp() }
    let positive = GradientCheck.uniform([2, 3], low: 0.3, high: 3, seed: 20)
    expectGradients([positive], h: 1e-3) { $0[0].log() }
    expectGradients([positive], h: 1e-3) { $0[0].sqrt() }
    expectGradients([GradientCheck.separatedValues([2, 3], margin: 0.1, seed: 21)]) { $0[0].abs() }
    expectGradients([randn([2, 3], 22)]) { $0[0].tanh() }
    expectGradients([randn([2, 3], 23, std: 3)]) { $0[0].sigmoid() }
  }

  @Test("matmul with an empty inner or outer dimension: zero output and zero gradients")
  func matmulEmptyDimensions() throws {
    // Inner dimension 0: C = A·B is all zeros, dA and dB are empty.
    let a = Tensor.zeros([3, 0], requiresGrad: true), b = Tensor.zeros([0, 4], requiresGrad: true)
    let c = a.matmul(b)
    #expect(c.shape == [3, 4] && c.storage.allSatisfy { $0 == 0 })
    c.backward(Tensor.ones([3, 4]))
    #expect(a.grad?.shape == [3, 0] && b.grad?.shape == [0, 4])
    // No rows: C is empty, and dB = Aᵀ·G over zero rows is all zeros (not uninitialized memory).
    let x = Tensor.zeros([0, 5], requiresGrad: true), w = Tensor.full([5, 2], 1, requiresGrad: true)
    let y = x.matmul(w)
    #expect(y.shape == [0, 2])
    y.backward(Tensor.zeros([0, 2]))
    #expect(w.grad?.storage == [Float](repeating: 0, count: 10))
    let wt = Tensor.full([2, 5], 1, requiresGrad: true)
    Tensor.matmul(x, transposed: wt).backward(Tensor.zeros([0, 2]))
    #expect(wt.grad?.storage == [Float](repeating: 0, count: 10))
  }

  @Test("relu backward is PyTorch's threshold_backward: g where x > 0, else +0.0 (even for inf / NaN g)")
  func reluBackwardMask() throws {
    let x = try Tensor([-2, 0, 3, -0.0, 5, -1, 7, 1e-30], shape: [2, 4], requiresGrad: true)
    let y = x.relu()
    y.backward(try Tensor([.infinity, -4, -5, .nan, 6, -7, 8, .nan], shape: [2, 4]))
    let g = try #require(x.grad).storage
    #expect(g[0].bitPattern == (0 as Float).bitPattern && g[1].bitPattern == (0 as Float).bitPattern)
    #expect(g[3].bitPattern == (0 as Float).bitPattern && g[5].bitPattern == (0 as Float).bitPattern)
    #expect(g[2] == -5 && g[4] == 6 && g[6] == 8 && g[7].isNaN)
  }

  @Test("relu, gelu, clamped (no sample within h of a kink)")
  func activations() {
    expectGradients([GradientCheck.separatedValues([3, 4], margin: 0.1, seed: 24)]) { $0[0].relu() }
    expectGradients([randn([3, 4], 25, std: 2)]) { $0[0].gelu() }
    // Bounds ±0.7 sit halfway between the 0.2-spaced sample levels (…, 0.5, 0.9, …).
    let x = try! Tensor((0..<12).map { Float($0) * 0.2 - 1.1 }, shape: [3, 4])
    expectGradients([x]) { $0[0].clamped(-0.8, 0.8) }
  }
}

@Suite("GradientCheck: reductions and shapes")
struct ReductionGradientTests {
  @Test("sum and mean over all elements and per axis, with and without keepDims")
  func sumMean() {
    let x = randn([2, 3, 4], 30)
    expectGradients([x]) { $0[0].sum() }
    expectGradients([x]) { $0[0].mean() }
    for axis in [0, 1, 2, -1] {
      for keep in [false, true] {
        expectGradients([x], "sum axis \(axis) keep \(keep)") { $0[0].sum(axis: axis, keepDims: keep) }
        expectGradients([x], "mean axis \(axis) keep \(keep)") { $0[0].mean(axis: axis, keepDims: keep) }
      }
    }
  }

  @Test("max and min along an axis route the gradient to the extremum")
  func maxMinAxis() {
    let x = GradientCheck.separatedValues([2, 3, 4], margin: 0.1, seed: 31)
    for axis in [0, 1, 2] {
      for keep in [false, true] {
        expectGradients([x], "max \(axis)") { $0[0].max(axis: axis, keepDims: keep) }
        expectGradients([x], "min \(axis)") { $0[0].min(axis: axis, keepDims: keep) }
      }
    }
  }

  @Test("broadcast(to:)")
  func broadcastTo() {
    expectGradients([randn([3], 32)]) { $0[0].broadcast(to: [2, 3]) }
    expectGradients([randn([2, 1], 33)]) { $0[0].broadcast(to: [2, 4]) }
    expectGradients([randn([1, 3, 1], 34)]) { $0[0].broadcast(to: [2, 3, 2]) }
    expectGradients([randn([], 35)]) { $0[0].broadcast(to: [2, 2]) }
  }

  @Test("softmax and logSoftmax along several axes")
  func softmax() {
    let x = randn([2, 3, 4], 36, std: 2)
    for axis in [0, 1, 2, -1] {
      expectGradients([x], "softmax \(axis)") { $0[0].softmax(axis: axis) }
      expectGradients([x], "logSoftmax \(axis)") { $0[0].logSoftmax(axis: axis) }
    }
  }

  @Test("reshape, flatten, unsqueeze, permute, transpose")
  func shapes() {
    let x = randn([2, 3, 4], 37)
    expectGradients([x]) { try! $0[0].reshaped([4, -1]) }
    expectGradients([x]) { $0[0].flattened(from: 1) }
    expectGradients([x]) { $0[0].unsqueezed(1) }
    expectGradients([x]) { $0[0].permuted([2, 0, 1]) }
    expectGradients([x]) { $0[0].permuted([1, 2, 0]) }
    expectGradients([x]) { $0[0].transposed() }
    expectGradients([x]) { $0[0].transposed(0, 2) }
    expectGradients([randn([2, 3, 2, 2], 38)]) { $0[0].permuted([0, 2, 1, 3]) }
  }

  @Test("slice, concat, gather")
  func sliceConcatGather() {
    let x = randn([3, 4, 2], 39)
    expectGradients([x]) { $0[0].slice(axis: 1, 1..<3) }
    expectGradients([x]) { $0[0].slice(axis: 0, 0..<2) }
    expectGradients([x]) { $0[0].slice(axis: -1, 1..<2) }
    expectGradients([randn([2, 3], 40), randn([2, 1], 41), randn([2, 2], 42)]) { Tensor.concat($0, axis: 1) }
    expectGradients([randn([1, 3], 43), randn([2, 3], 44)]) { Tensor.concat($0, axis: 0) }
    expectGradients([x]) { $0[0].gather([2, 0, 2, 1], axis: 0) }
    expectGradients([x]) { $0[0].gather([3, 3, 0], axis: 1) }
  }

  @Test("embedding lookup with repeated indices")
  func embedding() {
    expectGradients([randn([5, 3], 45)]) { $0[0].embedding([4, 1, 1, 0, 4, 2], indexShape: [2, 3]) }
  }
}

@Suite("GradientCheck: matmul, convolution, pooling, normalization")
struct LinearAlgebraGradientTests {
  @Test("matmul 2-D, batched, shared right matrix")
  func matmul() {
    expectGradients([randn([3, 4], 50), randn([4, 5], 51)]) { $0[0].matmul($0[1]) }
    expectGradients([randn([2, 3, 4], 52), randn([2, 4, 2], 53)]) { $0[0].matmul($0[1]) }
    expectGradients([randn([2, 2, 3, 4], 54), randn([2, 2, 4, 3], 55)]) { $0[0].matmul($0[1]) }
    expectGradients([randn([2, 3, 4], 56), randn([4, 5], 57)]) { $0[0].matmul($0[1]) }
    expectGradients([randn([2, 2, 3, 4], 58), randn([4, 2], 59)]) { $0[0].matmul($0[1]) }
  }

  @Test("matmul(_:transposed:) 2-D, batched and shared")
  func matmulTransposed() {
    expectGradients([randn([3, 4], 60), randn([5, 4], 61)]) { Tensor.matmul($0[0], transposed: $0[1]) }
    expectGradients([randn([2, 3, 4], 62), randn([2, 5, 4], 63)]) { Tensor.matmul($0[0], transposed: $0[1]) }
    expectGradients([randn([2, 3, 4], 64), randn([5, 4], 65)]) { Tensor.matmul($0[0], transposed: $0[1]) }
    // A right matrix wider than one 16-lane register and with a remainder.
    expectGradients([randn([5, 3], 66), randn([19, 3], 67)]) { Tensor.matmul($0[0], transposed: $0[1]) }
  }

  @Test("conv2d with stride 1 and 2, padding 0 and 1, with and without bias")
  func conv2d() {
    for (stride, padding) in [(1, 0), (1, 1), (2, 0), (2, 1)] {
      let x = randn([2, 2, 5, 5], 70)
      let w = randn([3, 2, 3, 3], 71, std: 0.5)
      let b = randn([3], 72)
      expectGradients([x, w, b], "stride \(stride) padding \(padding)") {
        $0[0].conv2d($0[1], bias: $0[2], stride: stride, padding: padding)
      }
    }
    expectGradients([randn([1, 1, 4, 4], 73), randn([2, 1, 2, 2], 74)], "no bias") { $0[0].conv2d($0[1]) }
  }

  @Test("maxPool2d and avgPool2d")
  func pooling() {
    let x = GradientCheck.separatedValues([2, 2, 4, 4], margin: 0.05, seed: 75)
    expectGradients([x], h: 1e-2) { $0[0].maxPool2d(kernel: 2) }
    expectGradients([x], h: 1e-2) { $0[0].maxPool2d(kernel: 3, stride: 1) }
    expectGradients([randn([2, 2, 4, 4], 76)]) { $0[0].avgPool2d(kernel: 2) }
    expectGradients([randn([1, 2, 5, 5], 77)]) { $0[0].avgPool2d(kernel: 3, stride: 2) }
  }

  @Test("layerNorm with and without gamma and beta")
  func layerNorm() {
    let x = randn([2, 3, 5], 78, std: 2)
    expectGradients([x], h: 1e-2) { $0[0].layerNorm() }
    expectGradients([x, randn([5], 79), randn([5], 80)], h: 1e-2) { $0[0].layerNorm(gamma: $0[1], beta: $0[2]) }
  }
}

@Suite("GradientCheck: losses")
struct LossGradientTests {
  @Test("crossEntropy with and without label smoothing")
  func crossEntropy() {
    let logits = randn([4, 5], 90, std: 2)
    expectGradients([logits]) { Loss.crossEntropy($0[0], [0, 3, 4, 3]) }
    expectGradients([logits]) { Loss.crossEntropy($0[0], [1, 2, 0, 4], labelSmoothing: 0.1) }
  }

  @Test("mse in both arguments")
  func mse() {
    expectGradients([randn([3, 4], 91), randn([3, 4], 92)]) { Loss.mse($0[0], $0[1]) }
  }

  @Test("klDivergence with temperature and mask; the teacher gets no gradient")
  func kl() {
    let teacher = randn([4, 6], 93, std: 2)
    expectGradients([randn([4, 6], 94, std: 2)]) { Loss.klDivergence(student: $0[0], teacher: teacher) }
    expectGradients([randn([4, 6], 95, std: 2)]) {
      Loss.klDivergence(student: $0[0], teacher: teacher, temperature: 3)
    }
    expectGradients([randn([2, 2, 6], 96, std: 2)]) {
      Loss.klDivergence(student: $0[0], teacher: teacher.reshapedUnchecked([2, 2, 6]), temperature: 2, mask: [1, 0, 1, 1])
    }
    let t = randn([4, 6], 97)
    t.requiresGrad = true
    let s = randn([4, 6], 98)
    s.requiresGrad = true
    Loss.klDivergence(student: s, teacher: t, temperature: 2).backward()
    #expect(t.grad == nil)
    #expect(s.grad != nil)
  }

  @Test("cosine loss in both arguments")
  func cosine() {
    expectGradients([randn([3, 5], 99), randn([3, 5], 100)]) { Loss.cosine($0[0], $0[1]) }
    expectGradients([randn([2, 2, 4], 101), randn([2, 2, 4], 102)]) { Loss.cosine($0[0], $0[1]) }
  }
}

@Suite("GradientCheck: layers")
struct LayerGradientTests {
  @Test("Linear: input, weight and bias; rank-3 input")
  func linear() {
    let layer = Linear(4, 3, seed: 1)
    let x = randn([2, 4], 110)
    expectGradients([x] + layer.parameters()) { _ in layer(x) }
    let x3 = randn([2, 3, 4], 111)
    expectGradients([x3] + layer.parameters()) { _ in layer(x3) }
  }

  @Test("Conv2d layer with stride 2 and padding 1")
  func conv() {
    let layer = Conv2d(2, 3, kernel: 3, stride: 2, padding: 1, seed: 2)
    let x = randn([1, 2, 5, 5], 112)
    expectGradients([x] + layer.parameters()) { _ in layer(x) }
  }

  @Test("LayerNorm layer with non-trivial gamma and beta")
  func layerNorm() {
    let layer = LayerNorm(4)
    try! layer.weight.assign(randn([4], 113))
    try! layer.bias.assign(randn([4], 114))
    let x = randn([3, 4], 115, std: 2)
    expectGradients([x] + layer.parameters()) { _ in layer(x) }
  }

  @Test("MultiHeadAttention: every parameter and the input")
  func attention() {
    let layer = MultiHeadAttention(dim: 4, heads: 2, seed: 3)
    let x = randn([2, 3, 4], 116)
    #expect(layer.parameters().count == 8)
    expectGradients([x] + layer.parameters(), h: 1e-2, atol: 2e-3) { _ in layer(x) }
  }

  @Test("TransformerEncoderBlock: every parameter")
  func encoderBlock() {
    let block = TransformerEncoderBlock(dim: 4, heads: 2, hidden: 6, seed: 4)
    try! block.norm1.weight.assign(randn([4], 117))
    try! block.norm2.bias.assign(randn([4], 118))
    let x = randn([1, 3, 4], 119)
    #expect(block.parameters().count == 16)
    expectGradients([x] + block.parameters(), h: 1e-2, atol: 2e-3) { _ in block(x) }
  }
}

@Suite("GradientCheck: the checker itself")
struct GradientCheckerSelfTests {
  @Test("a wrong backward is reported, a right one passes")
  func detectsWrongGradients() {
    func scaled(_ x: Tensor, backwardFactor: Float) -> Tensor {
      Tensor.withoutGrad { x * 3 }.detach().recording("scaled", inputs: [x]) { g in [g * backwardFactor] }
    }
    let x = GradientCheck.randn([2, 3], seed: 120)
    #expect(GradientCheck.check([x], of: { scaled($0[0], backwardFactor: 3) }).passed)
    let wrong = GradientCheck.check([x], of: { scaled($0[0], backwardFactor: 3.1) })
    #expect(!wrong.passed)
    #expect(wrong.mismatches.count == 6 && wrong.checked == 6)
    // A missing gradient (nothing recorded for the input) is also caught.
    let missing = GradientCheck.check([x], of: { inputs in Tensor.withoutGrad { inputs[0] * 2 }.detach() + 0 })
    #expect(!missing.passed)
    #expect(x.storage == GradientCheck.randn([2, 3], seed: 120).storage)  // inputs restored
  }

  @Test("Embedding layer: gradients reach the rows that were looked up")
  func embeddingLayer() {
    let layer = Embedding(5, 3, seed: 6)
    let ids = try! Tensor([1, 4, 0, 1], shape: [2, 2])
    expectGradients(layer.parameters()) { _ in layer(ids) }
    #expect(layer(ids).shape == [2, 2, 3])
    layer(ids).sum().backward()
    #expect(Array(layer.weight.grad!.scalars[6..<9]) == [0, 0, 0])  // row 2 unused
    #expect(Array(layer.weight.grad!.scalars[3..<6]) == [2, 2, 2])  // row 1 used twice
  }
}
