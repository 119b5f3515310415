import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Persistent worker threads for ``Parallel``'s loops that stay hot between back-to-back calls.
///
/// Why it exists. A 256×256×256 SGEMM takes 0.1-0.2 ms on the 2-core reference machine (a KVM
/// guest, x86-64-v4 build). With `DispatchQueue.concurrentPerform` the second thread started each
/// call 31-36 µs late (median over 300 calls 50 µs apart, call start to second-iteration start):
/// the parked Dispatch worker is woken through the kernel and its idle virtual CPU has to be
/// rescheduled first. The benchmark saw `cpu_util` ≈ 1.7 and 218 GFLOP/s at 256³, 0.68× the
/// `torch.matmul` measured in the same runs (whose OpenMP threads spin between calls).
///
/// Here a worker, after each job, *spins* for a bounded window (``defaultSpin``, 150 µs) watching
/// for the next job, then parks on a condition variable. A call that follows within the window (the
/// next GEMM of a training step, a benchmark loop) finds the worker running: it started 0.7 µs
/// after the call (median, 256³ GEMM), an empty two-thread `forRanges` costs 0.2-0.8 µs, and 256³
/// ran at 303 GFLOP/s (0.93× torch, `cpu_util` 2.0; medians of 4 alternating runs). The MLP train
/// steps of `qatkit-bench` got faster too: 0.57 → 0.36 ms at batch 64, 4.15 → 3.33 ms at batch 1024.
/// Windows of 20 / 50 / 150 / 500 µs gave 0.42 / 0.41 / 0.36 / 0.36 ms for the batch-64 step:
/// 150 µs is the smallest that covers the gaps inside a step (500 µs gained a further 2-4% at
/// batch 1024, for more idle spinning). An idle process is idle: after the window every worker
/// sleeps until a call wakes it, and that call pays the wake latency once.
///
/// Protocol (one job at a time):
/// - a caller takes the pool with a try-lock (`busy`); when the pool is already taken — a second
///   thread calling at the same time, or a parallel loop started from inside a job's body — the
///   caller runs the whole job on its own thread instead (`body(0)`), so nested and concurrent calls
///   never deadlock and never lose work;
/// - the caller publishes the job, bumps `epoch`, wakes parked workers (only if any are parked) and
///   runs `body(0)` itself at once, so the work never waits for a worker;
/// - a worker that sees a new epoch *joins* the job by incrementing `state` unless the caller has
///   already closed it, runs `body(index)`, and leaves;
/// - when `body(0)` returns, the caller closes the job (no more joins) and waits only for the
///   workers that joined. A worker that wakes after that does not touch the job at all, so a late
///   worker never delays a call that was finished without it.
///
/// `body` must claim its tasks dynamically (an atomic counter): any subset of the threads may take
/// part, and the caller alone must be able to do everything.
package final class WorkerPool: @unchecked Sendable {
  /// The pool used by ``Parallel``: one worker per active core besides the caller's (none on a
  /// single-core machine, where every call runs inline). Threads start on first use.
  package static let shared = WorkerPool(workers: Parallel.cores &- 1, spin: defaultSpin)

  /// How long (in nanoseconds) a worker spins for the next job before parking: 150 µs, or
  /// `QATKIT_POOL_SPIN_US` microseconds from the environment (`0` parks at once, as Dispatch does;
  /// at most 10 ms).
  package static let defaultSpin: Int = {
    if let text = ProcessInfo.processInfo.environment["QATKIT_POOL_SPIN_US"], let us = Int(text), us >= 0 {
      return Swift.min(us, 10_000) &* 1000
    }
    return 150_000
  }()

  /// Number of worker threads (the calling thread comes on top of them).
  package let workers: Int
  /// Spin window of a worker in nanoseconds.
  package let spinNanoseconds: Int

  /// Taken by the caller that owns the current job; never released after ``stop()``.
  private let busy = Atomic<Bool>(false)
  /// Incremented for every published job (and by ``stop()``).
  private let epoch = Atomic<Int>(0)
  /// Number of workers inside the current job, plus ``closedFlag`` once the caller closed it.
  private let state = Atomic<Int>(WorkerPool.closedFlag)
  /// Workers waiting on ``condition``.
  private let parked = Atomic<Int>(0)
  /// Worker threads that have started and not yet exited.
  private let alive = Atomic<Int>(0)
  private let stopping = Atomic<Bool>(false)
  private let condition = NSCondition()
  /// The current job; written by the owner of `busy` while the job is closed and empty, read by
  /// workers only while they are inside it.
  private nonisolated(unsafe) var job: (@Sendable (Int) -> Void)?
  /// Threads the current job wants (the caller included); workers with a higher index skip it.
  private nonisolated(unsafe) var width = 0

  private static let closedFlag = 1 << 62

  /// Starts `workers` threads (none when `workers <= 0`) that spin `spin` nanoseconds for a job
  /// before parking.
  package init(workers: Int, spin: Int) {
    self.workers = Swift.max(0, workers)
    spinNanoseconds = Swift.max(0, spin)
    for index in 0..<self.workers {
      alive.add(1, ordering: .relaxed)
      let thread = Thread { [self] in self.workerLoop(index &+ 1) }
      thread.name = "QATKit worker \(index &+ 1)"
      thread.start()
    }
  }

  /// Workers currently parked (sleeping on the condition variable, using no CPU).
  package var parkedWorkers: Int { parked.load(ordering: .sequentiallyConsistent) }

  /// Worker threads that have not exited (``workers`` until ``stop()``).
  package var aliveWorkers: Int { alive.load(ordering: .acquiring) }

  /// Runs `body(thread)` on the calling thread (`thread == 0`) and on up to `width - 1` workers
  /// (`thread` in `1..<width`), returning when every call has returned.
  ///
  /// Workers that are late, parked or busy take no part; `body` must therefore share its work
  /// through dynamic claiming, and `body(0)` alone must complete it. When the pool is in use
  /// (a concurrent caller, or a call from inside a job) or `width <= 1`, `body(0)` runs inline.
  package func run(width: Int, _ body: @Sendable (_ thread: Int) -> Void) {
    let width = Swift.min(width, workers &+ 1)
    guard width > 1,
      busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else {
      body(0)
      return
    }
    withoutActuallyEscaping(body) { body in
      job = body
      self.width = width
      state.store(0, ordering: .releasing)
      epoch.add(1, ordering: .sequentiallyConsistent)
      if parked.load(ordering: .sequentiallyConsistent) > 0 {
        condition.lock()
        condition.broadcast()
        condition.unlock()
      }
      body(0)
      // No joins from here on; wait for the workers inside (they are running tasks).
      var inside = state.bitwiseOr(Self.closedFlag, ordering: .acquiringAndReleasing).newValue
      var spins = 0
      while inside != Self.closedFlag {
        spins &+= 1
        if spins > 1024 { sched_yield() }
        inside = state.load(ordering: .acquiring)
      }
      job = nil
    }
    busy.store(false, ordering: .releasing)
  }

  /// Stops the workers (after the current job) and waits until their threads have exited; later
  /// calls run inline. For pools made in tests: ``shared`` lives as long as the process.
  package func stop() {
    var spins = 0
    while !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
      spins &+= 1
      if spins > 64 { sched_yield() }
    }
    stopping.store(true, ordering: .sequentiallyConsistent)
    epoch.add(1, ordering: .sequentiallyConsistent)
    condition.lock()
    condition.broadcast()
    condition.unlock()
    while alive.load(ordering: .acquiring) > 0 { usleep(100) }
  }

  private func workerLoop(_ index: Int) {
    defer { alive.subtract(1, ordering: .releasing) }
    var seen = 0
    while true {
      var now = epoch.load(ordering: .acquiring)
      if now == seen {
        now = spin(seen)
        if now == seen { now = park(seen) }
      }
      seen = now
      if stopping.load(ordering: .sequentiallyConsistent) { return }
      participate(index)
    }
  }

  /// Watches `epoch` for up to the spin window; returns the epoch last read.
  ///
  /// Between batches of loads the worker yields its core, so a thread of another pool (the
  /// Dispatch workers of other kernels) or process that is waiting for this core gets it at once
  /// instead of after the window; with nothing else runnable `sched_yield` returns at once.
  private func spin(_ seen: Int) -> Int {
    guard spinNanoseconds > 0 else { return seen }
    let deadline = Self.monotonicNanoseconds() &+ spinNanoseconds
    while true {
      for _ in 0..<64 {
        let now = epoch.load(ordering: .acquiring)
        if now != seen { return now }
      }
      if Self.monotonicNanoseconds() >= deadline { return seen }
      sched_yield()
    }
  }

  /// Sleeps until the epoch moves past `seen`; returns the new epoch.
  private func park(_ seen: Int) -> Int {
    condition.lock()
    parked.add(1, ordering: .sequentiallyConsistent)
    var now = epoch.load(ordering: .sequentiallyConsistent)
    while now == seen {
      condition.wait()
      now = epoch.load(ordering: .sequentiallyConsistent)
    }
    parked.subtract(1, ordering: .sequentiallyConsistent)
    condition.unlock()
    return now
  }

  /// Joins the open job, if any, and runs this worker's part of it.
  private func participate(_ index: Int) {
    var current = state.load(ordering: .relaxed)
    while true {
      if current & Self.closedFlag != 0 { return }
      let (joined, found) = state.compareExchange(
        expected: current, desired: current &+ 1, successOrdering: .acquiring, failureOrdering: .relaxed)
      if joined { break }
      current = found
    }
    runJob(index)
    state.subtract(1, ordering: .releasing)
  }

  /// Calls the current job; kept out of line so the worker's reference to the closure is gone
  /// before it leaves the job.
  @inline(never)
  private func runJob(_ index: Int) {
    guard index < width, let job else { return }
    job(index)
  }

  private static func monotonicNanoseconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec &* 1_000_000_000 &+ ts.tv_nsec
  }
}
