import Foundation
import QATKit

/// Ranks of a data-parallel job as threads of this process, for testing code written against
/// ``Communicator`` without MPI. Collectives combine contributions in rank order (sum: rank 0 +
/// rank 1 + ...), so every rank gets the same result; a rank that waits longer than `timeout` for
/// the others throws ``CommunicatorError/timeout(operation:rank:size:seconds:)``.
package final class LocalRanks: @unchecked Sendable {
  package let size: Int
  package let timeout: Double
  private let condition = NSCondition()
  private var slots: [[UInt8]?]
  private var arrived = 0
  private var generation = 0
  private var result: [[UInt8]] = []

  package init(size: Int, timeout: Double = 30) {
    self.size = size
    self.timeout = timeout
    slots = Array(repeating: nil, count: size)
  }

  /// Runs `body` once per rank, each on its own thread with its communicator, and returns the
  /// results in rank order.
  package static func run<T: Sendable>(
    _ size: Int, timeout: Double = 30, _ body: @escaping @Sendable (any Communicator) throws -> T
  ) -> [Result<T, any Error>] {
    let group = LocalRanks(size: size, timeout: timeout)
    let results = Results<T>(count: size)
    let done = DispatchGroup()
    for r in 0..<size {
      done.enter()
      let thread = Thread {
        let comm = Member(group: group, rank: r)
        results.set(r, Result { try body(comm) })
        done.leave()
      }
      thread.stackSize = 8 << 20
      thread.start()
    }
    done.wait()
    return results.values
  }

  /// Every rank's `bytes`, in rank order, once all ranks have called.
  fileprivate func exchange(rank: Int, _ bytes: [UInt8], operation: String) throws -> [[UInt8]] {
    condition.lock()
    defer { condition.unlock() }
    let mine = generation
    slots[rank] = bytes
    arrived += 1
    if arrived == size {
      result = slots.map { $0! }
      slots = Array(repeating: nil, count: size)
      arrived = 0
      generation += 1
      condition.broadcast()
      return result
    }
    let deadline = Date(timeIntervalSinceNow: timeout)
    while generation == mine {
      if !condition.wait(until: deadline) && generation == mine {
        throw CommunicatorError.timeout(operation: operation, rank: rank, size: size, seconds: timeout)
      }
    }
    return result
  }

  /// One rank's communicator.
  private final class Member: Communicator, @unchecked Sendable {
    let group: LocalRanks
    let rank: Int
    var size: Int { group.size }
    init(group: LocalRanks, rank: Int) {
      self.group = group
      self.rank = rank
    }

    func allReduce(_ values: UnsafeMutableBufferPointer<Float>, _ op: ReductionOp) throws {
      try reduce(values, op)
    }
    func allReduce(_ values: UnsafeMutableBufferPointer<Double>, _ op: ReductionOp) throws {
      try reduce(values, op)
    }
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
      let all = try group.exchange(rank: rank, Array(bytes), operation: "broadcast")
      for i in 0..<bytes.count { bytes[i] = all[root][i] }
    }

    private func reduce<T: BinaryFloatingPoint>(_ values: UnsafeMutableBufferPointer<T>, _ op: ReductionOp) throws {
      let all = try group.exchange(rank: rank, Array(UnsafeRawBufferPointer(values)), operation: "all-reduce")
      let parts = all.map { bytes in bytes.withUnsafeBytes { Array($0.bindMemory(to: T.self)) } }
      for i in 0..<values.count {
        var v = parts[0][i]
        for p in parts.dropFirst() {
          switch op {
          case .sum: v += p[i]
          case .max: v = Swift.max(v, p[i])
          case .min: v = Swift.min(v, p[i])
          }
        }
        values[i] = v
      }
    }
  }

  private final class Results<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Result<T, any Error>?]
    init(count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<T, any Error>) {
      lock.lock()
      storage[i] = r
      lock.unlock()
    }
    var values: [Result<T, any Error>] { storage.map { $0! } }
  }
}

/// A communicator with a given rank and size whose collectives fail: for testing how code
/// shards data without running collectives.
package final class FixedRank: Communicator {
  package let rank: Int
  package let size: Int
  package init(_ rank: Int, of size: Int) {
    self.rank = rank
    self.size = size
  }
  package func allReduce(_ values: UnsafeMutableBufferPointer<Float>, _ op: ReductionOp) throws {
    throw CommunicatorError.unsupported("FixedRank has no collectives")
  }
  package func allReduce(_ values: UnsafeMutableBufferPointer<Double>, _ op: ReductionOp) throws {
    throw CommunicatorError.unsupported("FixedRank has no collectives")
  }
  package func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
    throw CommunicatorError.unsupported("FixedRank has no collectives")
  }
}
