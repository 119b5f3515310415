/// One process: rank 0 of 1. Every collective is a no-op, so code written for a
/// ``Communicator`` behaves exactly as single-process code when given this one (the default).
public final class SingleProcessCommunicator: Communicator {
  /// Creates the one-process communicator.
  public init() {}

  /// Always 0.
  public var rank: Int { 0 }
  /// Always 1.
  public var size: Int { 1 }

  /// Leaves `values` unchanged (the reduction over one rank).
  public func allReduce(_ values: UnsafeMutableBufferPointer<Float>, _ op: ReductionOp) throws {}
  /// Leaves `values` unchanged (the reduction over one rank).
  public func allReduce(_ values: UnsafeMutableBufferPointer<Double>, _ op: ReductionOp) throws {}
  /// Leaves `bytes` unchanged; `root` must be 0.
  public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
    guard root == 0 else { throw CommunicatorError.unsupported("broadcast from rank \(root) in a one-process job") }
  }
}

/// The ``ModeContext`` key under which `convert` passes the communicator of a data-parallel
/// job: the `quantize` mode then combines the activation statistics of every rank before it
/// computes ranges (see ``DistributedCalibrator``).
public enum CommunicatorKey: ModeContextKey {
  /// The communicator.
  public typealias Value = any Communicator
}
