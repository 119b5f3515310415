import CQATKitKernels
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

  /// Copies `bytes` bytes (a multiple of 4) from `src` to `dst` with 16-float vector loads and
  /// non-temporal stores from the destination's first 64-byte boundary on, one contiguous part
  /// per thread of the worker pool: the fastest read-x-write-y pass this machine has (glibc's
  /// `memcpy` uses `rep movsb` at these sizes and moves a read-for-ownership line per store).
  static func streamCopy(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, bytes: Int) {
    let s = UnsafeSendableRaw(UnsafeMutableRawPointer(mutating: src)), d = UnsafeSendableRaw(dst)
    let parts = Parallel.cores
    let count = bytes / 4
    let per = (count / parts + 15) & ~15
    Parallel.forRanges(parts, grain: 1) { r in
      for c in r {
        let lo = c * per, hi = Swift.min(count, lo + per)
        guard lo < hi else { continue }
        let x = s.base.assumingMemoryBound(to: Float.self) + lo
        let y = d.base.assumingMemoryBound(to: Float.self) + lo
        let n = hi - lo
        var i = 0
        let head = Swift.min(n, ((64 - (Int(bitPattern: y) & 63)) & 63) >> 2)
        while i < head {
          y[i] = x[i]
          i += 1
        }
        while i + 16 <= n {
          qk_stream_f32x16(y + i, UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self))
          i += 16
        }
        while i < n {
          y[i] = x[i]
          i += 1
        }
        qk_stream_fence()
      }
    }
  }

  /// A buffer of twice the last-level cache (at least 64 MiB), written once.
  nonisolated(unsafe) private static var evictionBuffer: UnsafeMutableRawPointer?
  static let evictionBytes = 128 << 20

  /// Pushes earlier data out of the caches: reads (and sums) a 128 MiB buffer on the worker
  /// pool. Streaming items call it before every timed call, so each call starts cold (from DRAM),
  /// as a pass over a tensor larger than the caches does, whatever the previous call left behind.
  static func evictCaches() {
    if evictionBuffer == nil {
      let p = UnsafeMutableRawPointer.allocate(byteCount: evictionBytes, alignment: 4096)
      memset(p, 1, evictionBytes)
      evictionBuffer = p
    }
    let b = UnsafeSendableRaw(evictionBuffer!)
    let parts = Parallel.cores, per = evictionBytes / parts
    Parallel.forRanges(parts, grain: 1) { r in
      for c in r {
        var acc = SIMD16<Float>()
        var o = c * per
        while o < (c + 1) * per {
          acc += b.base.load(fromByteOffset: o, as: SIMD16<Float>.self)
          o += 64
        }
        if acc.sum() == 42 { Sink.consume(1) }
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
