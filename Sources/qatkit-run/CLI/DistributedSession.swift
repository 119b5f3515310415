import Foundation
import QATDistributed
import QATKit

#if canImport(Glibc)
import Glibc
#endif

/// The processes this run is part of: one, or the ranks of an MPI job.
///
/// MPI starts when an MPI launcher started the process (``MPILaunch/isLaunched(environment:)``:
/// `mpirun -np N qatkit-run ...`) or when `--distributed` is given anywhere on the command line
/// (launchers that set none of those variables). Then rank 0 prints and writes files; the other
/// ranks' standard output goes to `/dev/null` (their errors still reach stderr, prefixed with
/// their rank); an error on any rank ends the whole job (`MPI_Abort`), and the ranks the
/// launcher then stops say so on stderr.
enum DistributedSession {
  /// The flag that forces MPI without a launcher's environment variables.
  static let flag = "--distributed"

  /// The communicator the commands use (one process unless MPI started).
  nonisolated(unsafe) private(set) static var world: any Communicator = SingleProcessCommunicator()
  nonisolated(unsafe) private static var mpi: MPICommunicator?

  /// Removes ``flag`` from `arguments` and starts MPI when asked to or launched by MPI.
  ///
  /// - Throws: ``MPIError`` when MPI is wanted but cannot be loaded or initialized.
  static func start(_ arguments: inout [String]) throws {
    let forced = arguments.contains(flag)
    arguments.removeAll { $0 == flag }
    guard forced || MPILaunch.isLaunched() else { return }
    let comm = try MPICommunicator.world()
    mpi = comm
    world = comm
    MPILaunch.installTerminationNotice(rank: comm.rank, size: comm.size)
    if comm.rank != 0 {
      Console.secondaryRank = true
      let null = open("/dev/null", O_WRONLY)
      if null >= 0 { dup2(null, STDOUT_FILENO) }
    }
  }

  /// Commands that only print (no data, no training): they run on every rank as in one
  /// process and say nothing about ranks.
  static let printOnlyCommands: Set<String> = ["list", "inspect"]

  /// Prints `data-parallel over N processes (MPI)` (rank 0, stdout) before a command that
  /// trains, calibrates or evaluates runs in an MPI job of more than one rank.
  static func announce(_ command: String) {
    guard world.size > 1, !printOnlyCommands.contains(command) else { return }
    print("data-parallel over \(world.size) processes (MPI)")
  }

  /// `"rank R of N: "` in an MPI job, `""` otherwise: the prefix of error messages.
  static var errorPrefix: String { mpi.map { "rank \($0.rank) of \($0.size): " } ?? "" }

  /// Ends the run with `code`: MPI is finalized after success; after a failure the whole job is
  /// aborted with that code, so no rank waits for the failed one.
  static func finish(_ code: Int32) -> Int32 {
    guard let mpi else { return code }
    if code == ExitCode.success {
      mpi.finalize()
      return code
    }
    fflush(nil)
    mpi.abort(code: code)
  }
}
