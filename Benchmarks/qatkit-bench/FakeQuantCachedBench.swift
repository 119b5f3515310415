import Foundation
import QATKit

/// Diagnostics without a reference counterpart: the fake-quant kernels on a cache-resident
/// 64 × 1024 float32 tensor (256 KiB in, 256 KiB out: one worker chunk, so one thread, normal
/// stores), each call alternating with a `memcpy` of the same 256 KiB. The kernel's time there is
/// its arithmetic, not DRAM: `ns_per_element` and `fraction_of_cached_copy` say how close a
/// kernel is to being compute-bound at the streaming rate (the 64 MiB items' non-temporal copy
/// moves about 2.5 G elements/s per core, 0.4 ns per element). Calls take tens of microseconds, so
/// medians of many of them are little disturbed by other processes.
enum FakeQuantCachedBench {
  static let rows = 64, cols = 1024

  static func items(scale: Double) -> [Item] {
    let cases: [(String, FakeQuantBench.Kind)] = [
      ("fake_quant_cached_int8_per_channel", .int(bits: 8, ste: false)),
      ("fake_quant_cached_int8_per_channel_ste", .int(bits: 8, ste: true)),
      ("fake_quant_cached_nvfp4", .nvfp4),
      ("fake_quant_cached_mxfp4", .mxfp4),
    ]
    return cases.map { key, kind in Item(key: key) { [run(key, kind, scale: scale)] } }
  }

  static func run(_ key: String, _ kind: FakeQuantBench.Kind, scale: Double) -> BenchResult {
    var rng = RandomGenerator(seed: 3)
    let x = (0..<(rows * cols)).map { _ in rng.nextNormal() }
    var out = [Float](repeating: 0, count: x.count), copy = out
    var mask = [UInt8](repeating: 0, count: x.count)
    let amaxRows = (0..<rows).map { r in x[(r * cols)..<((r + 1) * cols)].map(\.magnitude).max() ?? 0 }
    let amaxTensor = [amaxRows.max() ?? 0]
    let work = "\(kind) on a cache-resident 64x1024 float32 tensor, one thread, vs memcpy of 256 KiB"
    var failure: String?
    let t = x.withUnsafeBufferPointer { xb in
      amaxRows.withUnsafeBufferPointer { ab in
        amaxTensor.withUnsafeBufferPointer { tb in
          out.withUnsafeMutableBufferPointer { ob in
            mask.withUnsafeMutableBufferPointer { mb in
              copy.withUnsafeMutableBufferPointer { cb in
                Timing.measureInterleaved(count: 2, runs: 301, warmup: 20, scale: scale) { i in
                  if i == 0 {
                    memcpy(cb.baseAddress!, xb.baseAddress!, xb.count * 4)
                    return
                  }
                  do {
                    try kind.run(xb, rows: rows, cols: cols, amaxRows: ab, amaxTensor: tb, into: ob, mask: mb)
                  } catch {
                    failure = "\(error)"
                  }
                }
              }
            }
          }
        }
      }
    }
    if let failure { return .failed(key, unit: "ns/element", higherIsBetter: false, work: work, error: failure) }
    Sink.consume(out[777] + copy[333])
    let n = Double(rows * cols)
    var r = BenchResult(key, t[1], unit: "ns/element", value: t[1].median / n * 1e9, higherIsBetter: false, work: work)
    r.extra["cached_copy_ns_per_element"] = t[0].median / n * 1e9
    r.extra["fraction_of_cached_copy"] = t[0].median / t[1].median
    return r
  }
}
