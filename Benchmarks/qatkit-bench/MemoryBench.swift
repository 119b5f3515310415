import Foundation
import QATKit

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The memory-bandwidth probe: a 512 MiB copy split over every core (memcpy per chunk).
///
/// GB/s = (bytes read + bytes written) / median time, the same accounting as the fake-quant
/// items, so `fake-quant GB/s ÷ copy GB/s` is the fraction of the machine's streaming limit.
enum MemoryBench {
  static let bytes = 512 << 20

  static func run(scale: Double) -> BenchResult {
    let src = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    let dst = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    defer { src.deallocate(); dst.deallocate() }
    memset(src, 1, bytes)
    memset(dst, 0, bytes)  // fault the pages in before timing
    let s = UnsafeSendableRaw(src), d = UnsafeSendableRaw(dst)
    let chunks = ProcessInfo.processInfo.activeProcessorCount
    let per = (bytes / chunks + 4095) & ~4095
    let t = Timing.measure(runs: 7, warmup: 2, scale: scale) {
      DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = c * per, hi = Swift.min(bytes, lo + per)
        if lo < hi { memcpy(d.base + lo, s.base + lo, hi - lo) }
      }
    }
    Sink.consume(Float(dst.load(fromByteOffset: 12345, as: UInt8.self)))
    return BenchResult(
      "memory_copy_512mib", t, unit: "GB/s", value: Double(2 * bytes) / t.median / 1e9, higherIsBetter: true,
      work: "memcpy of 512 MiB split over \(chunks) threads; GB/s = (read + write bytes) / time")
  }
}

/// A raw pointer handed to workers that touch disjoint ranges.
struct UnsafeSendableRaw: @unchecked Sendable {
  let base: UnsafeMutableRawPointer
  init(_ base: UnsafeMutableRawPointer) { self.base = base }
}
