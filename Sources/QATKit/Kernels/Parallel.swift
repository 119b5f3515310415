import Foundation
import Synchronization

/// A raw pointer that may cross into parallel workers writing disjoint ranges.
package struct SendablePointer<T>: @unchecked Sendable {
  package let base: UnsafeMutablePointer<T>
  package init(_ base: UnsafeMutablePointer<T>) { self.base = base }
  package init?(_ buffer: UnsafeMutableBufferPointer<T>) {
    guard let b = buffer.baseAddress else { return nil }
    base = b
  }
}

/// A read-only raw pointer that may cross into parallel workers.
package struct SendableConstPointer<T>: @unchecked Sendable {
  package let base: UnsafePointer<T>
  package init(_ base: UnsafePointer<T>) { self.base = base }
  package init?(_ buffer: UnsafeBufferPointer<T>) {
    guard let b = buffer.baseAddress else { return nil }
    base = b
  }
}

/// Splitting of data-parallel loops over the machine's cores.
package enum Parallel {
  /// Threads the parallel kernels use (the caller's included), read once: `QATKIT_THREADS` from
  /// the environment when set (at least 1, at most the active processor count); otherwise the
  /// active processor count divided among the processes an MPI launcher started on this node
  /// (`OMPI_COMM_WORLD_LOCAL_SIZE`, `MPI_LOCALNRANKS`), so `mpirun -np 2` on 2 cores runs one
  /// thread per rank instead of oversubscribing; otherwise the active processor count.
  package static let cores = threadCount(
    environment: ProcessInfo.processInfo.environment, processors: ProcessInfo.processInfo.activeProcessorCount)

  /// The thread count for `environment` on a machine with `processors` active processors (see
  /// ``cores``).
  package static func threadCount(environment: [String: String], processors: Int) -> Int {
    let available = max(1, processors)
    if let text = environment["QATKIT_THREADS"], let n = Int(text), n >= 1 { return min(n, available) }
    for key in ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"] {
      if let text = environment[key], let local = Int(text), local > 1 { return max(1, available / local) }
    }
    return available
  }

  /// Calls `body` on disjoint ranges covering `0..<count`, in parallel when the work is large.
  ///
  /// The ranges (at most one per thread of `pool`) are fixed by `count`, `grain` and the pool's
  /// size, never by timing, so results do not depend on scheduling; the pool's threads claim
  /// them dynamically, the calling thread first, so a range never waits for a worker that is
  /// late. Safe to call from several threads at once and from inside `body` (the inner call then
  /// runs on the calling thread).
  ///
  /// - Parameters:
  ///   - count: Number of items.
  ///   - grain: Minimum items per chunk worth a thread (by cost of one item).
  ///   - pool: The threads to use (tests pass their own).
  package static func forRanges(
    _ count: Int, grain: Int, pool: WorkerPool = .shared, _ body: @Sendable (Range<Int>) -> Void
  ) {
    guard count > 0 else { return }
    Allocation.prepare()
    let chunks = min(pool.workers &+ 1, max(1, count / max(1, grain)))
    if chunks == 1 { body(0..<count); return }
    let per = (count + chunks - 1) / chunks
    let next = TaskCounter()
    pool.run(width: chunks) { _ in
      while true {
        let c = next.claim()
        if c >= chunks { break }
        let lo = c &* per
        let hi = min(count, lo &+ per)
        if lo < hi { body(lo..<hi) }
      }
    }
  }
}

/// The next unclaimed task index of one parallel call (``Parallel/forRanges(_:grain:pool:_:)``,
/// ``parallelChunks(total:grain:_:)``).
package final class TaskCounter: Sendable {
  private let next = Atomic<Int>(0)

  /// A counter starting at 0.
  package init() {}

  /// Claims the next index (indices past the last task mean "nothing left").
  package func claim() -> Int { next.wrappingAdd(1, ordering: .relaxed).oldValue }
}
