import Foundation

extension Communicator {
  /// Whether this is rank 0, the rank that prints and writes files.
  public var isRoot: Bool { rank == 0 }

  /// Returns `values` combined across all ranks with `op` (every rank passes the same count).
  public func allReduce(_ values: [Float], _ op: ReductionOp) throws -> [Float] {
    var out = values
    try out.withUnsafeMutableBufferPointer { try allReduce($0, op) }
    return out
  }

  /// Returns `values` combined across all ranks with `op` (every rank passes the same count).
  public func allReduce(_ values: [Double], _ op: ReductionOp) throws -> [Double] {
    var out = values
    try out.withUnsafeMutableBufferPointer { try allReduce($0, op) }
    return out
  }

  /// Returns when every rank has called it.
  public func barrier() throws { _ = try allReduce([0 as Double], .sum) }

  /// Rank `root`'s `bytes` on every rank (other ranks pass anything, e.g. `[]`); the length
  /// travels first, so ranks need not know it.
  public func broadcast(_ bytes: [UInt8], root: Int = 0) throws -> [UInt8] {
    var length = [UInt64(rank == root ? bytes.count : 0)]
    try length.withUnsafeMutableBytes { try broadcast($0, root: root) }
    var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length[0]))
    if !out.isEmpty { try out.withUnsafeMutableBytes { try broadcast($0, root: root) } }
    return out
  }

  /// The part of `0..<count` this rank takes: contiguous, disjoint across ranks, in rank order,
  /// sizes differing by at most one (the first `count % size` ranks take one more).
  public func shard(of count: Int) -> Range<Int> { Self.shard(of: count, rank: rank, size: size) }

  /// The part of `0..<count` that rank `rank` of `size` takes (see ``shard(of:)``).
  public static func shard(of count: Int, rank: Int, size: Int) -> Range<Int> {
    precondition(size > 0 && (0..<size).contains(rank), "rank \(rank) of \(size)")
    let base = count / size
    let extra = count % size
    let lower = rank * base + Swift.min(rank, extra)
    return lower..<(lower + base + (rank < extra ? 1 : 0))
  }

  /// Runs `body` on rank 0 only (writing a checkpoint, printing) and tells every rank how it
  /// went: rank 0 returns or rethrows `body`'s own result; the other ranks wait for it and throw
  /// ``CommunicatorError/rootFailed(_:)`` with rank 0's message when it failed, so no rank goes
  /// on (or waits forever) after the root failed.
  public func onRoot(_ body: () throws -> Void) throws {
    var failure: (any Error)?
    if isRoot {
      do { try body() } catch { failure = error }
    }
    let message = try broadcast(Array((failure.map { "\($0)" } ?? "").utf8), root: 0)
    if let failure { throw failure }
    if !message.isEmpty { throw CommunicatorError.rootFailed(String(decoding: message, as: UTF8.self)) }
  }

  /// Whether `ok` holds on every rank (every rank learns the same answer).
  public func all(_ ok: Bool) throws -> Bool { try allReduce([Double(ok ? 1 : 0)], .min)[0] == 1 }
}
