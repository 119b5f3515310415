import Foundation
import QATKit
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `MPI_COMM_WORLD` of an MPI library loaded at run time (see ``MPILibrary``): the
/// ``Communicator`` of a job started with `mpirun -np N` (or `srun`, `mpiexec`). Rank and size
/// come from MPI.
///
/// - Collectives are MPI's blocking `MPI_Allreduce` and `MPI_Bcast` (the tuned algorithms; the
///   non-blocking `MPI_Iallreduce` polled with `MPI_Test` was measured 1.5-3× slower for the
///   MLP's 340 KB and 25× slower for 4 MB with Open MPI 4.1, see docs/DATA-PARALLEL.md).
/// - A watchdog thread ends the process if a collective has not completed after ``timeout``
///   seconds (another rank failed, was killed or hangs): it prints
///   `rank R of N: error: <operation> did not complete within T s: ...` on stderr and exits with
///   status 1, and the launcher then ends the other ranks, instead of the job hanging forever.
/// - The communicator's error handler is `MPI_ERRORS_RETURN`, so MPI errors become
///   ``CommunicatorError/transport(operation:rank:message:)`` with MPI's message.
/// - ``abort(code:)`` ends the whole job (`MPI_Abort`); the launcher stops the other ranks,
///   which print why (see ``MPILaunch/installTerminationNotice(rank:size:)``).
///
/// MPI may be initialized once per process: ``world(timeout:libraryNames:)`` initializes it on
/// first use and returns the same communicator afterwards. Calls are serialized with a lock
/// (`MPI_THREAD_SERIALIZED`).
public final class MPICommunicator: Communicator, @unchecked Sendable {
  /// This process's rank in `MPI_COMM_WORLD`.
  public let rank: Int
  /// The number of processes in `MPI_COMM_WORLD`.
  public let size: Int
  /// Seconds a collective may take before the watchdog ends the process (``defaultTimeout``
  /// unless given).
  public let timeout: Double
  /// The implementation loaded and its version line, e.g. `Open MPI v4.1.4, ...`.
  public var libraryDescription: String { "\(library.version) (\(library.path))" }
  /// Open MPI or MPICH.
  public var implementation: MPIImplementation { library.implementation }

  package let library: MPILibrary
  private let lock = NSLock()
  private var finished = false
  /// The collective in progress and when it must have completed (uptime nanoseconds).
  private let inProgress = Mutex<(operation: String, deadline: UInt64)?>(nil)

  private static let shared = Mutex<MPICommunicator?>(nil)

  /// 300 s, or `QATKIT_COLLECTIVE_TIMEOUT` seconds from the environment.
  public static var defaultTimeout: Double {
    if let t = ProcessInfo.processInfo.environment["QATKIT_COLLECTIVE_TIMEOUT"].flatMap(Double.init), t > 0 { return t }
    return 300
  }

  /// The library names tried: `QATKIT_MPI_LIBRARY` when set, else ``MPILibrary/defaultNames``.
  public static var libraryNames: [String] {
    if let path = ProcessInfo.processInfo.environment["QATKIT_MPI_LIBRARY"], !path.isEmpty { return [path] }
    return MPILibrary.defaultNames
  }

  /// The world communicator: loads MPI and initializes it on the first call (later calls return
  /// the same communicator and ignore the arguments).
  ///
  /// - Throws: ``MPIError`` when no supported MPI library loads or initialization fails.
  public static func world(timeout: Double = defaultTimeout, libraryNames: [String] = libraryNames) throws -> MPICommunicator {
    try shared.withLock { current in
      if let current { return current }
      let library = try MPILibrary.load(names: libraryNames)
      let world = try MPICommunicator(library: library, timeout: timeout)
      world.startWatchdog()
      current = world
      return world
    }
  }

  private init(library: MPILibrary, timeout: Double) throws {
    self.library = library
    self.timeout = timeout
    var flag: Int32 = 0
    _ = library.initialized(&flag)
    if flag == 0 {
      var provided: Int32 = 0
      let rc = library.initThread(nil, nil, 2 /* MPI_THREAD_SERIALIZED */, &provided)
      guard rc == 0 else { throw MPIError.initializationFailed("MPI_Init_thread returned \(rc)") }
    }
    var r: Int32 = 0, n: Int32 = 0
    var rc = library.commSetErrhandler(library.commWorld, library.errorsReturn)
    if rc == 0 { rc = library.commRank(library.commWorld, &r) }
    if rc == 0 { rc = library.commSize(library.commWorld, &n) }
    guard rc == 0 else { throw MPIError.initializationFailed(library.message(for: rc)) }
    rank = Int(r)
    size = Int(n)
  }

  /// Sums, maxima or minima of `values` across ranks, in place.
  public func allReduce(_ values: UnsafeMutableBufferPointer<Float>, _ op: ReductionOp) throws {
    try allReduce(UnsafeMutableRawPointer(values.baseAddress), count: values.count, type: library.float, op: op, name: "all-reduce (\(values.count) floats)")
  }

  /// Sums, maxima or minima of `values` across ranks, in place.
  public func allReduce(_ values: UnsafeMutableBufferPointer<Double>, _ op: ReductionOp) throws {
    try allReduce(UnsafeMutableRawPointer(values.baseAddress), count: values.count, type: library.double, op: op, name: "all-reduce (\(values.count) doubles)")
  }

  /// Rank `root`'s bytes on every rank.
  public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
    guard (0..<size).contains(root) else { throw CommunicatorError.unsupported("broadcast from rank \(root) of \(size)") }
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    for (start, n) in Self.chunks(bytes.count) {
      try collective("broadcast (\(bytes.count) bytes)") { library.bcast(base + start, n, library.byte, Int32(root), library.commWorld) }
    }
  }

  /// Ends every rank of the job with exit code `code` (`MPI_Abort`); does not return.
  public func abort(code: Int32) -> Never {
    _ = library.abort(library.commWorld, code)
    exit(code)
  }

  /// Finalizes MPI (once; after the last collective, before the process exits).
  public func finalize() {
    lock.lock()
    defer { lock.unlock() }
    guard !finished else { return }
    finished = true
    var flag: Int32 = 0
    _ = library.finalized(&flag)
    if flag == 0 { _ = library.finalize() }
  }

  private func allReduce(_ base: UnsafeMutableRawPointer?, count: Int, type: MPILibrary.Handle, op: ReductionOp, name: String) throws {
    guard let base, count > 0 else { return }
    let handle = switch op {
    case .sum: library.opSum
    case .max: library.opMax
    case .min: library.opMin
    }
    let elementSize = type == library.double ? 8 : 4
    for (start, n) in Self.chunks(count) {
      try collective(name) { library.allreduce(library.inPlace, base + start * elementSize, n, type, handle, library.commWorld) }
    }
  }

  /// `(offset, count)` pieces of at most `Int32.max` elements (MPI counts are C ints).
  private static func chunks(_ count: Int) -> [(Int, Int32)] {
    stride(from: 0, to: count, by: Int(Int32.max)).map { ($0, Int32(Swift.min(Int(Int32.max), count - $0))) }
  }

  /// Runs one MPI collective under the watchdog; turns an MPI error code into a thrown error.
  private func collective(_ operation: String, _ call: () -> Int32) throws {
    lock.lock()
    defer { lock.unlock() }
    let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(timeout * 1e9)
    inProgress.withLock { $0 = (operation, deadline) }
    let rc = call()
    inProgress.withLock { $0 = nil }
    guard rc == 0 else { throw CommunicatorError.transport(operation: operation, rank: rank, message: library.message(for: rc)) }
  }

  /// Checks every quarter second (at most every `timeout / 4`) whether a collective overran its
  /// deadline; if so, prints why and exits with status 1 (the launcher then ends the job).
  private func startWatchdog() {
    let period = Swift.min(0.25, timeout / 4)
    let thread = Thread { [self] in
      while true {
        Thread.sleep(forTimeInterval: period)
        let now = DispatchTime.now().uptimeNanoseconds
        guard let (operation, deadline) = inProgress.withLock({ $0 }), now > deadline else { continue }
        let error = CommunicatorError.timeout(operation: operation, rank: rank, size: size, seconds: timeout)
        FileHandle.standardError.write(Data("rank \(rank) of \(size): error: \(error)\n".utf8))
        _exit(1)
      }
    }
    thread.name = "qatkit-mpi-watchdog"
    thread.start()
  }
}
