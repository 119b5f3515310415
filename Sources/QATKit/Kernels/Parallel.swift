import Dispatch
import Foundation
import Synchronization

/// A raw pointer that may cross into `concurrentPerform` workers writing disjoint ranges.
package struct SendablePointer<T>: @unchecked Sendable {
  package let base: UnsafeMutablePointer<T>
  package init(_ base: UnsafeMutablePointer<T>) { self.base = base }
  package init?(_ buffer: UnsafeMutableBufferPointer<T>) {
    guard let b = buffer.baseAddress else { return nil }
    base = b
  }
}

/// A read-only raw pointer that may cross into `concurrentPerform` workers.
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
  /// Active processor count, read once.
  package static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

  /// Calls `body` on disjoint ranges covering `0..<count`, in parallel when the work is large.
  ///
  /// - Parameters:
  ///   - count: Number of items.
  ///   - grain: Minimum items per chunk worth a thread (by cost of one item).
  package static func forRanges(
    _ count: Int, grain: Int, _ body: @Sendable (Range<Int>) -> Void
  ) {
    guard count > 0 else { return }
    Allocation.prepare()
    let chunks = min(cores, max(1, count / max(1, grain)))
    if chunks == 1 { body(0..<count); return }
    let per = (count + chunks - 1) / chunks
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
      let lo = c * per
      let hi = min(count, lo + per)
      if lo < hi { body(lo..<hi) }
    }
  }

  /// Runs `first` tasks of phase 0, then — once every one of them has finished — `second` tasks
  /// of phase 1, with the tasks of each phase claimed dynamically by up to `threads` threads.
  ///
  /// The calling thread starts claiming at once, so work does not wait for a worker to wake; a
  /// worker that wakes late takes whatever is left (or nothing). Threads that run out of
  /// phase-0 tasks wait (spinning, then yielding) for the phase-0 tasks still in progress on
  /// other threads, so phase-0 tasks should be short.
  ///
  /// - Parameters:
  ///   - first: Number of phase-0 tasks.
  ///   - second: Number of phase-1 tasks.
  ///   - threads: Maximum number of threads (the index passed as `worker` is below it).
  ///   - body: Called as `body(worker, phase, task)`; calls with the same `worker` never overlap.
  package static func phased(
    first: Int, then second: Int, threads: Int,
    _ body: @Sendable (_ worker: Int, _ phase: Int, _ task: Int) -> Void
  ) {
    let state = PhasedState()
    let threads = max(1, threads)
    @Sendable func run(_ worker: Int) {
      while true {
        let t = state.nextFirst.wrappingAdd(1, ordering: .relaxed).oldValue
        if t >= first { break }
        body(worker, 0, t)
        state.doneFirst.wrappingAdd(1, ordering: .releasing)
      }
      var spins = 0
      while state.doneFirst.load(ordering: .acquiring) < first {
        spins &+= 1
        if spins > 256 { sched_yield() }
      }
      while true {
        let t = state.nextSecond.wrappingAdd(1, ordering: .relaxed).oldValue
        if t >= second { break }
        body(worker, 1, t)
      }
    }
    if threads == 1 { run(0); return }
    Allocation.prepare()
    DispatchQueue.concurrentPerform(iterations: threads) { run($0) }
  }
}

/// Shared task counters of one ``Parallel/phased(first:then:threads:_:)`` call.
private final class PhasedState: Sendable {
  let nextFirst = Atomic<Int>(0)
  let doneFirst = Atomic<Int>(0)
  let nextSecond = Atomic<Int>(0)
}
