import Dispatch
import Foundation
import Synchronization  // Atomic; locks are QATKit.Locked, which ThreadSanitizer can see
import Testing

@testable import QATKit

/// Counts calls per task index and records which threads ran them.
private final class TaskLog: Sendable {
  private let counts: Locked<[Int]>
  private let threads = Locked<Set<Int>>([])

  init(_ count: Int) { counts = Locked([Int](repeating: 0, count: count)) }

  func hit(_ range: Range<Int>) { counts.withLock { for i in range { $0[i] += 1 } } }
  func hit(_ index: Int, thread: Int) {
    counts.withLock { $0[index] += 1 }
    threads.withLock { _ = $0.insert(thread) }
  }

  var all: [Int] { counts.withLock { $0 } }
  var threadsSeen: Set<Int> { threads.withLock { $0 } }
}

/// A job for ``WorkerPool/run(width:_:)`` that claims `count` tasks dynamically.
private final class Claims: Sendable {
  let next = TaskCounter()
  let count: Int
  init(_ count: Int) { self.count = count }

  func drain(thread: Int, _ body: (Int) -> Void) {
    while true {
      let t = next.claim()
      if t >= count { return }
      body(t)
    }
  }
}

/// Waits (sleeping, up to `seconds`) until `condition` holds; returns whether it did.
private func eventually(seconds: Double = 20, _ condition: () -> Bool) -> Bool {
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if condition() { return true }
    usleep(1000)
  }
  return condition()
}

@Suite("WorkerPool and Parallel", .timeLimit(.minutes(1)))
struct WorkerPoolTests {
  @Test("forRanges covers every index exactly once", arguments: [0, 1, 2, 3, 1000])
  func forRangesCoversOnce(count: Int) {
    let pools = [WorkerPool.shared, WorkerPool(workers: 3, spin: 50_000), WorkerPool(workers: 0, spin: 0)]
    defer { for pool in pools.dropFirst() { pool.stop() } }
    for pool in pools {
      for grain in [1, 7, 400] {
        for _ in 0..<20 {
          let log = TaskLog(count)
          let ranges = Locked<[Range<Int>]>([])
          Parallel.forRanges(count, grain: grain, pool: pool) { r in
            log.hit(r)
            ranges.withLock { $0.append(r) }
          }
          #expect(log.all.allSatisfy { $0 == 1 }, "count \(count) grain \(grain) workers \(pool.workers)")
          let chunks = ranges.withLock { $0.count }
          #expect(chunks <= pool.workers + 1)
          if count > 0 { #expect(chunks >= 1) }
        }
      }
    }
  }

  @Test("parallelChunks (the fake-quant kernels' split) covers every index exactly once")
  func parallelChunksCoversOnce() {
    for total in [0, 1, 17, 1000, 4097] {
      for grain in [1, 16, 1000, 5000] {
        let log = TaskLog(total)
        let sizes = Locked<[Int]>([])
        parallelChunks(total: total, grain: grain) { r in
          log.hit(r)
          sizes.withLock { $0.append(r.count) }
        }
        #expect(log.all.allSatisfy { $0 == 1 }, "total \(total) grain \(grain)")
        #expect(sizes.withLock { $0 }.allSatisfy { $0 <= max(1, grain) || total <= grain })
      }
    }
  }

  @Test("run: each task once, thread indices below the width, the caller is thread 0")
  func runIndices() {
    let pool = WorkerPool(workers: 3, spin: 200_000)
    defer { pool.stop() }
    for width in [1, 2, 3, 4, 9] {
      for count in [0, 1, 2, 3, 1000] {
        let log = TaskLog(count)
        let claims = Claims(count)
        let callerThread = Locked<Int>(-1)
        let caller = pthread_self()
        pool.run(width: width) { thread in
          if pthread_equal(pthread_self(), caller) != 0 { callerThread.withLock { $0 = thread } }
          claims.drain(thread: thread) { log.hit($0, thread: thread) }
        }
        #expect(log.all.allSatisfy { $0 == 1 }, "width \(width) count \(count)")
        #expect(log.threadsSeen.allSatisfy { $0 >= 0 && $0 < Swift.min(width, pool.workers + 1) })
        #expect(callerThread.withLock { $0 } == 0)
      }
    }
  }

  @Test("workers take part in jobs (they are woken from parking and found while spinning)")
  func workersParticipate() {
    for spin in [0, 5_000_000] {
      let pool = WorkerPool(workers: 2, spin: spin)
      defer { pool.stop() }
      var seen = Set<Int>()
      // Each task sleeps, so the caller cannot drain the job before a worker arrives for long.
      for _ in 0..<200 where seen.count < 2 {
        let log = TaskLog(8)
        let claims = Claims(8)
        pool.run(width: 3) { thread in
          claims.drain(thread: thread) { i in
            usleep(500)
            log.hit(i, thread: thread)
          }
        }
        #expect(log.all.allSatisfy { $0 == 1 })
        seen.formUnion(log.threadsSeen.filter { $0 > 0 })
      }
      #expect(seen == [1, 2], "spin \(spin)")
    }
  }

  @Test("a parallel call from inside a job runs inline instead of deadlocking")
  func reentrant() {
    let pools = [WorkerPool.shared, WorkerPool(workers: 3, spin: 50_000)]
    defer { pools[1].stop() }
    for pool in pools {
      let outer = TaskLog(4), inner = TaskLog(4 * 100)
      Parallel.forRanges(4, grain: 1, pool: pool) { r in
        for i in r {
          outer.hit(i..<(i + 1))
          Parallel.forRanges(100, grain: 1, pool: pool) { inner.hit((i * 100 + $0.lowerBound)..<(i * 100 + $0.upperBound)) }
        }
      }
      #expect(outer.all.allSatisfy { $0 == 1 })
      #expect(inner.all.allSatisfy { $0 == 1 })

      // A direct nested run.
      let direct = Locked<[Int]>([])
      pool.run(width: 4) { thread in
        pool.run(width: 4) { innerThread in direct.withLock { $0.append(innerThread) } }
      }
      // Only the inner calls made on threads that took part; each ran inline as its thread 0.
      #expect(!direct.withLock { $0 }.isEmpty)
      #expect(direct.withLock { $0 }.allSatisfy { $0 == 0 })
    }
  }

  @Test("concurrent callers from several threads neither deadlock nor lose tasks")
  func concurrentCallers() {
    let pools = [WorkerPool.shared, WorkerPool(workers: 3, spin: 50_000)]
    defer { pools[1].stop() }
    for pool in pools {
      let callers = 4, rounds = 50, count = 1000
      let logs = (0..<callers).map { _ in TaskLog(count * rounds) }
      DispatchQueue.concurrentPerform(iterations: callers) { c in
        for round in 0..<rounds {
          let base = round * count
          if round % 2 == 0 {
            Parallel.forRanges(count, grain: 1, pool: pool) { logs[c].hit((base + $0.lowerBound)..<(base + $0.upperBound)) }
          } else {
            let claims = Claims(count)
            pool.run(width: 4) { thread in
              claims.drain(thread: thread) { logs[c].hit(base + $0, thread: thread) }
            }
          }
        }
      }
      for log in logs { #expect(log.all.allSatisfy { $0 == 1 }) }

      // Two plain threads calling at the same time.
      let threadLogs = [TaskLog(count * rounds), TaskLog(count * rounds)]
      let done = DispatchSemaphore(value: 0)
      for t in 0..<2 {
        let thread = Thread {
          for round in 0..<rounds {
            let base = round * count
            Parallel.forRanges(count, grain: 1, pool: pool) { threadLogs[t].hit((base + $0.lowerBound)..<(base + $0.upperBound)) }
          }
          done.signal()
        }
        thread.start()
      }
      done.wait()
      done.wait()
      for log in threadLogs { #expect(log.all.allSatisfy { $0 == 1 }) }
    }
  }

  @Test("workers park after the spin window (an idle process is idle)")
  func parks() {
    let pool = WorkerPool(workers: 3, spin: 2_000_000)
    defer { pool.stop() }
    #expect(eventually { pool.parkedWorkers == 3 }, "fresh workers park")
    for round in 0..<3 {
      let log = TaskLog(100)
      let claims = Claims(100)
      pool.run(width: 4) { thread in claims.drain(thread: thread) { log.hit($0, thread: thread) } }
      #expect(log.all.allSatisfy { $0 == 1 })
      #expect(eventually { pool.parkedWorkers == 3 }, "workers park again after job \(round)")
    }
  }

  @Test("no workers (a single core) and a stopped pool run everything on the caller")
  func inlinePools() {
    let single = WorkerPool(workers: 0, spin: 1_000_000)
    #expect(single.aliveWorkers == 0)
    let stopped = WorkerPool(workers: 2, spin: 1_000_000)
    stopped.stop()
    #expect(stopped.aliveWorkers == 0)
    for pool in [single, stopped] {
      let log = TaskLog(50)
      let claims = Claims(50)
      pool.run(width: 3) { thread in claims.drain(thread: thread) { log.hit($0, thread: thread) } }
      #expect(log.all.allSatisfy { $0 == 1 })
      #expect(log.threadsSeen == [0])
      // The ranges depend on the pool's size only; all of them run on the calling thread.
      let ranges = Locked<[Range<Int>]>([])
      let caller = pthread_self()
      let elsewhere = Atomic<Int>(0)
      Parallel.forRanges(1000, grain: 1, pool: pool) { r in
        ranges.withLock { $0.append(r) }
        if pthread_equal(pthread_self(), caller) == 0 { elsewhere.add(1, ordering: .relaxed) }
      }
      #expect(ranges.withLock { $0 } == (pool.workers == 0 ? [0..<1000] : [0..<334, 334..<668, 668..<1000]))
      #expect(elsewhere.load(ordering: .relaxed) == 0)
    }
  }

  @Test("GEMM through the pool matches the reference on both split directions, from concurrent callers")
  func gemmConcurrent() {
    let shapes = [(96, 40, 300), (40, 96, 300), (64, 64, 64)]
    DispatchQueue.concurrentPerform(iterations: 3) { i in
      let (m, n, k) = shapes[i]
      var rng = SystemRandomNumberGenerator()
      let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
      let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
      let want = GEMM.reference(a, b, m: m, n: n, k: k)
      for _ in 0..<5 {
        var c = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { pa in
          b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
              GEMM.multiply(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!, m: m, n: n, k: k)
            }
          }
        }
        let err = zip(c, want).map { abs($0 - $1) }.max() ?? 0
        #expect(err <= Float(k).squareRoot() * 2e-6 + 1e-6, "m=\(m) n=\(n) k=\(k)")
      }
    }
  }
}
