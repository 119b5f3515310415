import Testing

import QATTestSupport

@testable import QATKit
import QATPluginTesting

/// Fast (packed, blocked, threaded) GEMM against the plain reference on awkward shapes.
@Suite("Kernels")
struct KernelTests {
  /// Deterministic pseudo-random values in [-1, 1).
  static func values(_ count: Int, seed: UInt64) -> [Float] {
    var rng = RandomGenerator(seed: seed)
    return (0..<count).map { _ in Float.random(in: -1..<1, using: &rng) }
  }

  static func fast(
    _ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, ta: Bool, tb: Bool, initial: [Float]? = nil
  ) -> [Float] {
    var c = initial ?? [Float](repeating: .nan, count: m * n)
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          // Empty buffers have no base address; the kernel must not read them.
          let dummy = UnsafeMutablePointer<Float>.allocate(capacity: 1)
          defer { dummy.deallocate() }
          GEMM.multiply(
            pa.baseAddress ?? UnsafePointer(dummy), pb.baseAddress ?? UnsafePointer(dummy),
            pc.baseAddress ?? dummy, m: m, n: n, k: k, transposeA: ta, transposeB: tb,
            accumulate: initial != nil)
        }
      }
    }
    return c
  }

  static let shapes: [(Int, Int, Int)] = [
    (1, 1, 1), (1, 7, 1), (7, 1, 3), (17, 33, 5), (6, 16, 8), (12, 32, 17), (5, 15, 1023),
    (13, 17, 300), (100, 41, 70), (97, 130, 33), (64, 256, 64), (3, 1, 257),
    // Full and edge tiles of the AVX-512 8×32 micro-kernel, across a kc = 256 block boundary.
    (8, 32, 257), (17, 65, 40), (24, 96, 3),
    // Row splits with several kc / nc blocks.
    (200, 40, 600), (130, 33, 513), (250, 70, 300),
  ]

  @Test("GEMM matches the reference for every transpose combination", arguments: [
    (false, false), (false, true), (true, false), (true, true),
  ])
  func matchesReference(ta: Bool, tb: Bool) {
    for (i, (m, n, k)) in Self.shapes.enumerated() {
      let a = Self.values(m * k, seed: UInt64(10 + i)), b = Self.values(k * n, seed: UInt64(100 + i))
      let want = GEMM.reference(a, b, m: m, n: n, k: k, transposeA: ta, transposeB: tb)
      let got = Self.fast(a, b, m: m, n: n, k: k, ta: ta, tb: tb)
      let tol = Float(k).squareRoot() * 2e-6 + 1e-6
      #expect(maxAbsDifference(got, want) <= tol, "m=\(m) n=\(n) k=\(k) ta=\(ta) tb=\(tb)")
    }
  }

  @Test("accumulate adds to C (including across several k blocks)")
  func accumulates() {
    for (m, n, k) in [(7, 19, 3), (13, 17, 600), (70, 90, 60), (250, 70, 300)] {
      let a = Self.values(m * k, seed: 1), b = Self.values(k * n, seed: 2), c0 = Self.values(m * n, seed: 3)
      for (ta, tb) in [(false, false), (true, true)] {
        let want = GEMM.reference(a, b, m: m, n: n, k: k, transposeA: ta, transposeB: tb, accumulateInto: c0)
        let got = Self.fast(a, b, m: m, n: n, k: k, ta: ta, tb: tb, initial: c0)
        #expect(maxAbsDifference(got, want) <= 1e-4, "m=\(m) n=\(n) k=\(k)")
      }
    }
  }

  @Test("empty shapes: k = 0 zeroes C (or leaves it when accumulating); m or n = 0 touch nothing")
  func emptyShapes() {
    #expect(Self.fast([], [], m: 3, n: 4, k: 0, ta: false, tb: false) == [Float](repeating: 0, count: 12))
    #expect(Self.fast([], [], m: 2, n: 2, k: 0, ta: true, tb: true, initial: [1, 2, 3, 4]) == [1, 2, 3, 4])
    #expect(Self.fast([], Self.values(15, seed: 4), m: 0, n: 5, k: 3, ta: false, tb: false).isEmpty)
    #expect(Self.fast(Self.values(6, seed: 5), [], m: 2, n: 0, k: 3, ta: false, tb: true).isEmpty)
  }

  @Test("Tensor.matmul forward and gradients use the right transposes (plain, transposed, batched)")
  func tensorMatmulGradients() {
    let (m, k, n) = (9, 21, 18)
    let av = Self.values(2 * m * k, seed: 6)
    for transposed in [false, true] {
      for batched in [false, true] {
        let a = Tensor(shape: batched ? [2, m, k] : [m, k], storage: batched ? av : Array(av[0..<(m * k)]),
                       requiresGrad: true)
        let b = Tensor(shape: transposed ? [n, k] : [k, n], storage: Self.values(n * k, seed: 7), requiresGrad: true)
        let y = transposed ? Tensor.matmul(a, transposed: b) : a.matmul(b)
        let rows = batched ? 2 * m : m
        #expect(y.shape == (batched ? [2, m, n] : [m, n]))
        #expect(maxAbsDifference(
          y.scalars, GEMM.reference(a.scalars, b.scalars, m: rows, n: n, k: k, transposeB: transposed)) <= 1e-5)
        let g = Self.values(rows * n, seed: 8)
        y.backward(Tensor(shape: y.shape, storage: g))
        // dA = G·op(B)ᵀ; dB = Aᵀ·G (or its transpose).
        let wantA = GEMM.reference(g, b.scalars, m: rows, n: k, k: n, transposeB: !transposed)
        let wantB = transposed
          ? GEMM.reference(g, a.scalars, m: n, n: k, k: rows, transposeA: true)
          : GEMM.reference(a.scalars, g, m: k, n: n, k: rows, transposeA: true)
        #expect(maxAbsDifference(a.grad?.scalars ?? [], wantA) <= 1e-5)
        #expect(maxAbsDifference(b.grad?.scalars ?? [], wantB) <= 1e-5)
      }
    }
  }

  @Test("Tensor.matmul with per-batch right matrices")
  func batchedPerBatch() {
    let a = Tensor(shape: [3, 4, 5], storage: Self.values(60, seed: 9), requiresGrad: true)
    let b = Tensor(shape: [3, 5, 2], storage: Self.values(30, seed: 10), requiresGrad: true)
    let y = a.matmul(b)
    for i in 0..<3 {
      let want = GEMM.reference(Array(a.scalars[(i * 20)..<(i * 20 + 20)]), Array(b.scalars[(i * 10)..<(i * 10 + 10)]),
                                m: 4, n: 2, k: 5)
      #expect(maxAbsDifference(Array(y.scalars[(i * 8)..<(i * 8 + 8)]), want) <= 1e-5)
    }
    y.sum().backward()
    // d(sum)/dB[i] = A[i]ᵀ·1
    let ones = [Float](repeating: 1, count: 8)
    let wantB1 = GEMM.reference(Array(a.scalars[20..<40]), ones, m: 5, n: 2, k: 4, transposeA: true)
    #expect(maxAbsDifference(Array((b.grad?.scalars ?? [])[10..<20]), wantB1) <= 1e-5)
  }
}
