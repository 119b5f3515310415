#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Keeps glibc's `malloc` from returning big freed blocks to the kernel on every training step.
///
/// Every tensor op allocates its output as a fresh `[Float]`. glibc serves blocks of 128 KiB and
/// more with `mmap` and unmaps them on `free`, so at batch 1024 (1 MiB activations) each op paid
/// `mmap` + `munmap` + a page fault per 4 KiB touched: ~20% of a train step was kernel page-fault
/// time. Raising the mmap threshold to 32 MiB (glibc's maximum on 64-bit) and the trim threshold
/// to 256 MiB keeps such blocks in the heap for reuse: the MLP step at batch 1024 went from 7.4 to
/// 4.1 ms (FP32) and from 5.2 to 4.5 ms (QAT INT8). The cost: up to 256 MiB of freed heap may stay
/// mapped (resident only where it was touched) instead of going back to the system.
///
/// Applied once, on first use of the GEMM or the parallel loops (every training step uses both).
/// Skipped when `QATKIT_MALLOC_TUNING=0`, when the user set glibc's own `MALLOC_MMAP_THRESHOLD_`
/// or `MALLOC_TRIM_THRESHOLD_` (or `GLIBC_TUNABLES`), and on platforms without glibc.
package enum Allocation {
  /// Whether the tuning was applied (read once; touching it applies it).
  package static let tuned: Bool = {
    #if canImport(Glibc)
    let env = ProcessInfo.processInfo.environment
    if env["QATKIT_MALLOC_TUNING"] == "0" || env["MALLOC_MMAP_THRESHOLD_"] != nil
      || env["MALLOC_TRIM_THRESHOLD_"] != nil || env["GLIBC_TUNABLES"] != nil
    {
      return false
    }
    // Glibc's Swift module does not export <malloc.h>: look `mallopt` up at run time.
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
    let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
    let mmapThreshold: Int32 = -3, trimThreshold: Int32 = -1  // M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    let mmapOK = mallopt(mmapThreshold, 32 << 20) == 1
    let trimOK = mallopt(trimThreshold, 256 << 20) == 1
    return mmapOK && trimOK
    #else
    return false
    #endif
  }()

  /// Applies the tuning if it has not been applied yet (cheap after the first call).
  @inline(__always)
  package static func prepare() { _ = tuned }
}
