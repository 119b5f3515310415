import QATKit


/// SGEMM throughput, `C = op(A)·op(B)` into a preallocated output (as `torch.matmul(out=)`).
enum GEMMBench {
  static func run(n: Int, transposeA: Bool, transposeB: Bool, scale: Double) -> BenchResult {
    var rng = RandomGenerator(seed: 1)
    let a = (0..<(n * n)).map { _ in Float.random(in: -1..<1, using: &rng) }
    let b = (0..<(n * n)).map { _ in Float.random(in: -1..<1, using: &rng) }
    var c = [Float](repeating: 0, count: n * n)
    let suffix = transposeA || transposeB ? "_" + (transposeA ? "t" : "n") + (transposeB ? "t" : "n") : ""
    let key = "matmul_f32_\(n)\(suffix)"
    let (runs, warm) = n >= 1024 ? (11, 3) : (201, 20)
    let t = a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          Timing.measure(runs: runs, warmup: warm, scale: scale) {
            GEMM.multiply(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!, m: n, n: n, k: n,
                          transposeA: transposeA, transposeB: transposeB)
          }
        }
      }
    }
    Sink.consume(c[n + 1])
    let flops = 2 * Double(n) * Double(n) * Double(n)
    let op = (transposeA ? "Aᵀ" : "A") + "·" + (transposeB ? "Bᵀ" : "B")
    var r = BenchResult(key, t, unit: "GFLOP/s", value: flops / t.median / 1e9, higherIsBetter: true,
                        work: "GEMM.multiply \(op) float32 \(n)x\(n)x\(n) into a preallocated output; 2 n^3 flop")
    // 2 cores × 3.67 GHz × 32 flop/cycle (2 FMA × 8 lanes) — the reference machine's AVX2 peak.
    r.extra["fraction_of_avx2_peak"] = (r.value ?? 0) / (Double(Parallel.cores) * 3.67 * 32)
    return r
  }
}

/// The machine's SGEMM rate in this run: `matmul_f32_1024` when the run measured it, else one
/// measured on first use (a filtered run), for stating training steps as a fraction of it.
enum SGEMMRate {
  nonisolated(unsafe) private static var rate: Double?

  static func record(_ results: [BenchResult]) {
    if let r = results.first(where: { $0.key == "matmul_f32_1024" })?.value { rate = r }
  }

  static func value(scale: Double) -> Double? {
    if rate == nil { rate = GEMMBench.run(n: 1024, transposeA: false, transposeB: false, scale: scale).value }
    return rate
  }
}
