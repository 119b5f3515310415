internal import CQATKitKernels
import Foundation

/// Non-temporal ("streaming") stores for element-wise kernels whose output is larger than the
/// caches.
///
/// A normal store first reads the destination line into the cache (read for ownership), so a
/// kernel that reads `x` and writes `y` moves three lines per output line through the memory
/// bus; glibc's `memcpy` — the streaming limit the benchmarks compare against — writes large
/// copies with non-temporal stores and moves two. The fake-quantization kernels use the same
/// stores when their output is at least ``threshold`` bytes (it would not stay in the cache for
/// the next operation anyway); smaller outputs keep normal stores, so a training step's
/// activations stay cache-resident for the layer that reads them next.
package enum StreamingStores {
  /// Outputs of at least this many bytes are streamed: half the last-level cache (from sysfs;
  /// 16 MiB when unknown). `QATKIT_STREAMING_STORES=0` turns streaming off, `=1` forces it on.
  package static let threshold: Int = {
    switch ProcessInfo.processInfo.environment["QATKIT_STREAMING_STORES"] {
    case "0": return .max
    case "1": return 0
    default: return Swift.max(1 << 20, lastLevelCacheBytes() / 2)
    }
  }()

  /// The largest data or unified cache of CPU 0 in bytes (16 MiB × 2 when sysfs does not say).
  static func lastLevelCacheBytes() -> Int {
    var best = 0
    for index in 0..<8 {
      let path = "/sys/devices/system/cpu/cpu0/cache/index\(index)/size"
      guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
      let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
      let unit: Int = t.hasSuffix("K") ? 1 << 10 : t.hasSuffix("M") ? 1 << 20 : 1
      if let v = Int(t.trimmingCharacters(in: CharacterSet.decimalDigits.inverted)) { best = Swift.max(best, v * unit) }
    }
    return best > 0 ? best : 32 << 20
  }
}

/// Stores 16 floats at a 64-byte aligned address, bypassing the cache.
@inline(__always)
package func streamVector(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
  qk_stream_f32x16(p, v)
}

/// Stores a lane mask as 16 bytes (`1` = lane set) at a 16-byte aligned address, bypassing the
/// cache (see ``storeMask(_:_:)``).
@inline(__always)
package func streamMask(_ m: SIMDMask<SIMD16<Int32>>, _ p: UnsafeMutablePointer<UInt8>) {
  let wide = unsafeBitCast(m, to: SIMD16<UInt32>.self) &>> 31
  var bytes = SIMD16<UInt8>()
  for j in 0..<16 { bytes[j] = UInt8(truncatingIfNeeded: wide[j]) }
  qk_stream_u8x16(p, bytes)
}

/// Orders the streaming stores issued so far before later stores; every chunk that streamed
/// calls it before its thread reports the chunk done.
@inline(__always)
package func streamFence() { qk_stream_fence() }

/// Elements from `p` to the next 64-byte boundary (0 when `p` is aligned).
@inline(__always)
package func elementsToLineBoundary(_ p: UnsafeMutablePointer<Float>) -> Int {
  ((64 &- (Int(bitPattern: p) & 63)) & 63) >> 2
}

/// Starts loading the cache line at `p` into L2 (no fault for any address).
@inline(__always)
package func prefetchLine(_ p: UnsafePointer<Float>) { qk_prefetch(p) }
