/// The processes of a data-parallel job and the collective operations between them, as MPI's
/// communicators provide them (`MPI_COMM_WORLD`).
///
/// Every rank runs the same program on its own shard of the data. A collective operation is
/// entered by **every** rank, in the same order, with buffers of the same length; it returns
/// when all ranks have contributed. ``SingleProcessCommunicator`` (one rank, collectives are
/// no-ops) is what the library uses when no communicator is given, so single-process code runs
/// exactly as without this type; the `QATDistributed` module provides `MPICommunicator`.
///
/// A collective that cannot complete (a rank died, a timeout passed) must not hang: an
/// implementation throws ``CommunicatorError`` or, like `MPICommunicator`'s watchdog, ends the
/// process with a message so that the launcher ends the job.
public protocol Communicator: AnyObject, Sendable {
  /// This process's index, `0..<size`; rank 0 is the root (prints, writes checkpoints).
  var rank: Int { get }
  /// Number of processes in the job.
  var size: Int { get }

  /// Combines `values` element-wise across all ranks with `op`; every rank receives the result
  /// in place. All ranks get bit-identical results.
  func allReduce(_ values: UnsafeMutableBufferPointer<Float>, _ op: ReductionOp) throws
  /// Combines `values` element-wise across all ranks with `op` (Double precision: counts,
  /// histograms, checksums).
  func allReduce(_ values: UnsafeMutableBufferPointer<Double>, _ op: ReductionOp) throws
  /// Copies `bytes` of rank `root` into `bytes` of every other rank (same length everywhere).
  func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws
}

/// The element-wise operation of ``Communicator/allReduce(_:_:)-(UnsafeMutableBufferPointer<Float>,_)``.
public enum ReductionOp: Sendable, Hashable {
  /// Sum (gradients, counts). The order of the additions depends on the implementation.
  case sum
  /// Maximum (ranges); exact.
  case max
  /// Minimum; exact.
  case min
}

/// Errors of collective operations and of data-parallel training.
public enum CommunicatorError: Error, Equatable, CustomStringConvertible {
  /// A collective did not complete in time: another rank failed, was killed or is stuck. The
  /// description leaves the rank out (callers print it as a prefix).
  case timeout(operation: String, rank: Int, size: Int, seconds: Double)
  /// The transport (MPI) reported an error.
  case transport(operation: String, rank: Int, message: String)
  /// Rank 0 failed in work done on behalf of every rank (writing a checkpoint); its message.
  case rootFailed(String)
  /// Ranks that should hold identical replicas do not (the message says what differs).
  case replicasDiverged(String)
  /// Something a data-parallel run cannot do (the message says what to do instead).
  case unsupported(String)

  /// A message naming the problem and what to do.
  public var description: String {
    switch self {
    case .timeout(let op, _, let size, let seconds):
      "\(op) did not complete within \(seconds) s: another of the \(size) ranks failed, was killed or is stuck (see "
        + "its error); ending the job (raise the limit with QATKIT_COLLECTIVE_TIMEOUT=SECONDS)"
    case .transport(let op, _, let message):
      "\(op) failed: \(message)"
    case .rootFailed(let message):
      "rank 0 failed: \(message)"
    case .replicasDiverged(let message):
      "replicas diverged: \(message)"
    case .unsupported(let message):
      message
    }
  }
}
