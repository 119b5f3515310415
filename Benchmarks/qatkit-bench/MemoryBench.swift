import Foundation
import QATKit

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The memory-bandwidth probe: `memcpy` split over every core of QATKit's worker pool, one
/// contiguous part per thread.
///
/// GB/s = (bytes read + bytes written) / median time, the same accounting as the fake-quant
/// items, so `fake-quant GB/s ÷ copy GB/s` is the fraction of the machine's streaming limit.
/// One part per thread keeps each `memcpy` call large: glibc switches to non-temporal stores
/// (no read for ownership) only above a size threshold, and 256 KiB pieces were measured slower.
/// Buffers are written before timing (no first-touch page faults inside the timed calls).
enum MemoryBench {
  static let bytes = 512 << 20

  /// Copies `bytes` bytes from `src` to `dst` on the worker pool (the fake-quant kernels' threads).
  static func copy(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, bytes: Int) {
    let s = UnsafeSendableRaw(UnsafeMutableRawPointer(mutating: src)), d = UnsafeSendableRaw(dst)
    let parts = Parallel.cores
    let per = (bytes / parts + 4095) & ~4095
    Parallel.forRanges(parts, grain: 1) { r in
      for c in r {
        let lo = c * per, hi = Swift.min(bytes, lo + per)
        if lo < hi { memcpy(d.base + lo, s.base + lo, hi - lo) }
      }
    }
  }

  static func run(scale: Double) -> BenchResult {
    let src = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    let dst = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    defer { src.deallocate(); dst.deallocate() }
    memset(src, 1, bytes)
    memset(dst, 0, bytes)  // fault the pages in before timing
    let t = Timing.measure(runs: 7, warmup: 2, scale: scale) { copy(src, dst, bytes: bytes) }
    Sink.consume(Float(dst.load(fromByteOffset: 12345, as: UInt8.self)))
    return BenchResult(
      "memory_copy_512mib", t, unit: "GB/s", value: Double(2 * bytes) / t.median / 1e9, higherIsBetter: true,
      work: "memcpy of 512 MiB split over \(Parallel.cores) threads of the worker pool; GB/s = (read + write bytes) / time")
  }
}

/// A raw pointer handed to workers that touch disjoint ranges.
struct UnsafeSendableRaw: @unchecked Sendable {
  let base: UnsafeMutableRawPointer
  init(_ base: UnsafeMutableRawPointer) { self.base = base }
}
