import Testing

import QATTestSupport
import QATPluginTesting

@testable import QATKit

/// The implicit-GEMM convolution and the pooling kernels against the plain reference
/// (`conv2dReference`: explicit im2col + matmul; `maxPool2dReference` / `avgPool2dReference`:
/// scalar loops), forward and every gradient, on odd shapes, strides, paddings and batch 1.
@Suite("Convolution and pooling kernels")
struct ConvKernelTests {
  /// `(N, C, H, W, O, k, stride, padding)`.
  static let convShapes: [(Int, Int, Int, Int, Int, Int, Int, Int)] = [
    (1, 1, 1, 1, 1, 1, 1, 0),  // one pixel
    (1, 3, 7, 5, 4, 3, 1, 1),  // odd sizes, batch 1
    (2, 3, 32, 32, 5, 3, 1, 1),  // output rows of 32: whole panel rows from one image row
    (3, 2, 16, 16, 9, 3, 1, 1),  // output rows of 16: 16×16 transposes in the weight gradient
    (2, 4, 9, 11, 3, 3, 2, 1),  // stride 2
    (1, 2, 6, 7, 3, 2, 2, 0),  // even kernel, stride 2, no padding
    (2, 3, 8, 8, 4, 1, 1, 0),  // 1×1: the stored image is the padded image
    (1, 2, 5, 5, 3, 5, 1, 2),  // kernel 5
    (2, 3, 17, 19, 6, 3, 3, 2),  // stride 3, sizes not divisible by it
    (1, 1, 4, 4, 2, 3, 1, 3),  // padding larger than kernel − 1
    (4, 40, 12, 12, 20, 3, 1, 1),  // patch 360: two k blocks; threaded weight gradient
    (1, 8, 40, 40, 16, 3, 1, 1),  // one image, 1600 positions: column blocks across threads
  ]

  static func tolerance(_ reference: [Float], patch: Int) -> Float {
    let scale = reference.map { Swift.abs($0) }.max() ?? 0
    return 1e-5 * Float(patch).squareRoot() * Swift.max(1, scale)
  }

  @Test("conv2d forward and gradients (input, weight, bias) match the reference")
  func convMatchesReference() {
    for (i, (n, c, h, w, o, k, s, p)) in Self.convShapes.enumerated() {
      let seed = UInt64(100 + 10 * i)
      for withBias in [true, false] {
        let x = GradientCheck.randn([n, c, h, w], seed: seed)
        let wt = GradientCheck.randn([o, c, k, k], seed: seed + 1, std: 0.3)
        let b = withBias ? GradientCheck.randn([o], seed: seed + 2) : nil
        for t in [x, wt] + (b.map { [$0] } ?? []) { t.requiresGrad = true }
        let label = "N\(n) C\(c) \(h)x\(w) O\(o) k\(k) s\(s) p\(p) bias \(withBias)"

        let fast = x.conv2d(wt, bias: b, stride: s, padding: p)
        let proj = GradientCheck.randn(fast.shape, seed: seed + 3)
        (fast * proj).sum().backward()
        let (gxFast, gwFast, gbFast) = (x.grad!.scalars, wt.grad!.scalars, b?.grad?.scalars)
        x.grad = nil
        wt.grad = nil
        b?.grad = nil

        let reference = x.conv2dReference(wt, bias: b, stride: s, padding: p)
        #expect(fast.shape == reference.shape, "\(label)")
        (reference * proj).sum().backward()
        let patch = c * k * k
        #expect(
          maxAbsDifference(fast.scalars, reference.scalars) <= Self.tolerance(reference.scalars, patch: patch),
          "forward \(label)")
        #expect(
          maxAbsDifference(gxFast, x.grad!.scalars) <= Self.tolerance(x.grad!.scalars, patch: o * k * k),
          "input gradient \(label)")
        #expect(
          maxAbsDifference(gwFast, wt.grad!.scalars) <= Self.tolerance(wt.grad!.scalars, patch: n * h * w),
          "weight gradient \(label)")
        if let b, let gbFast {
          #expect(maxAbsDifference(gbFast, b.grad!.scalars) <= Self.tolerance(b.grad!.scalars, patch: n * h * w),
                  "bias gradient \(label)")
        }
      }
    }
  }

  @Test("conv2d: only the inputs that require a gradient get one")
  func convPartialGradients() {
    let x = GradientCheck.randn([2, 3, 6, 6], seed: 1)
    let w = GradientCheck.randn([4, 3, 3, 3], seed: 2)
    w.requiresGrad = true
    x.conv2d(w, padding: 1).sum().backward()
    #expect(x.grad == nil)
    let reference = Tensor(shape: w.shape, storage: w.grad!.scalars)
    w.grad = nil
    x.conv2dReference(w, padding: 1).sum().backward()
    #expect(maxAbsDifference(reference.scalars, w.grad!.scalars) <= Self.tolerance(w.grad!.scalars, patch: 72))
  }

  @Test("conv2d gradients match finite differences (fast path and reference)")
  func convFiniteDifferences() {
    for (s, p) in [(1, 1), (2, 1), (1, 2)] {
      let x = GradientCheck.randn([2, 2, 5, 4], seed: 40)
      let w = GradientCheck.randn([3, 2, 3, 3], seed: 41, std: 0.5)
      let b = GradientCheck.randn([3], seed: 42)
      let fast = GradientCheck.check([x, w, b]) { x.conv2d(w, bias: b, stride: s, padding: p) }
      #expect(fast.passed, "fast s\(s) p\(p): \(fast)")
      let reference = GradientCheck.check([x, w, b]) { x.conv2dReference(w, bias: b, stride: s, padding: p) }
      #expect(reference.passed, "reference s\(s) p\(p): \(reference)")
    }
  }

  /// `(N, C, H, W, kernel, stride)`.
  static let poolShapes: [(Int, Int, Int, Int, Int, Int)] = [
    (2, 3, 8, 8, 2, 2), (1, 2, 7, 9, 2, 2), (2, 2, 34, 36, 2, 2), (1, 1, 2, 2, 2, 2),
    (1, 2, 9, 9, 3, 2), (1, 1, 5, 5, 2, 1), (2, 1, 6, 5, 3, 3),
  ]

  @Test("max and average pooling match the reference bit for bit, with ties, NaN and -inf")
  func poolingMatchesReference() {
    for (i, (n, c, h, w, k, s)) in Self.poolShapes.enumerated() {
      // Few distinct values: many ties inside windows; some NaN and -inf.
      var rng = RandomGenerator(seed: UInt64(500 + i))
      var values = (0..<(n * c * h * w)).map { _ in Float(rng.nextInt(below: 5)) - 2 }
      for j in stride(from: 3, to: values.count, by: 17) { values[j] = .nan }
      for j in stride(from: 5, to: values.count, by: 23) { values[j] = -.infinity }
      let label = "\(n)x\(c)x\(h)x\(w) k\(k) s\(s)"
      for useMax in [true, false] {
        let x = Tensor(shape: [n, c, h, w], storage: useMax ? values : values.map { $0.isFinite ? $0 : 1 })
        x.requiresGrad = true
        let fast = useMax ? x.maxPool2d(kernel: k, stride: s) : x.avgPool2d(kernel: k, stride: s)
        let proj = GradientCheck.randn(fast.shape, seed: UInt64(600 + i))
        fast.backward(proj)
        let gFast = x.grad!.scalars
        x.grad = nil
        let reference = useMax ? x.maxPool2dReference(kernel: k, stride: s) : x.avgPool2dReference(kernel: k, stride: s)
        reference.backward(proj)
        #expect(fast.shape == reference.shape, "\(label)")
        #expect(bitwiseEqual(fast.scalars, reference.scalars), "forward max \(useMax) \(label)")
        #expect(bitwiseEqual(gFast, x.grad!.scalars), "gradient max \(useMax) \(label)")
      }
    }
  }

  @Test("reluMaxPool2d equals relu().maxPool2d(): values (up to the sign of zero) and gradients")
  func fusedReluPool() {
    for (i, (n, c, h, w, k, s)) in Self.poolShapes.enumerated() {
      // Ties, zeros, and windows with no positive value.
      var rng = RandomGenerator(seed: UInt64(700 + i))
      let values = (0..<(n * c * h * w)).map { _ in Float(rng.nextInt(below: 7)) - 4 }
      let x = Tensor(shape: [n, c, h, w], storage: values)
      x.requiresGrad = true
      let fused = x.reluMaxPool2d(kernel: k, stride: s)
      let proj = GradientCheck.randn(fused.shape, seed: UInt64(800 + i))
      fused.backward(proj)
      let gFused = x.grad!.scalars
      x.grad = nil
      let plain = x.relu().maxPool2d(kernel: k, stride: s)
      plain.backward(proj)
      let label = "\(n)x\(c)x\(h)x\(w) k\(k) s\(s)"
      #expect(fused.scalars == plain.scalars, "forward \(label)")
      #expect(fused.scalars.allSatisfy { $0.sign == .plus }, "+0.0 for non-positive windows \(label)")
      #expect(bitwiseEqual(gFused, x.grad!.scalars), "gradient \(label)")
    }
    let x = GradientCheck.separatedValues([2, 2, 6, 6], margin: 0.05, seed: 78)
    let report = GradientCheck.check([x]) { x.reluMaxPool2d(kernel: 2) }
    #expect(report.passed, "\(report)")
  }

  func bitwiseEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
  }
}
