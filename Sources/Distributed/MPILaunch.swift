import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How a process learns that an MPI launcher started it, and what it does when the launcher
/// stops it.
public enum MPILaunch {
  /// The environment variables MPI launchers set in every process they start: Open MPI's
  /// `mpirun` (`OMPI_COMM_WORLD_SIZE`), MPICH's Hydra and Slurm with PMI-2 (`PMI_SIZE`), PMIx
  /// launchers such as Open MPI 5 and Slurm (`PMIX_RANK`).
  public static let variables = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]

  /// Whether `environment` says an MPI launcher started this process.
  public static func isLaunched(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    variables.contains { environment[$0] != nil }
  }

  /// Makes SIGTERM (how `mpirun` stops the other ranks after one failed, called `MPI_Abort` or
  /// was killed, and every rank on Ctrl-C) print one line on stderr naming this rank and the
  /// reason before the process exits with status 143, so every rank says why it ended.
  public static func installTerminationNotice(rank: Int, size: Int) {
    let text = "qatkit: rank \(rank) of \(size) stopped by the MPI launcher (SIGTERM): another rank failed or was killed, or the job was interrupted; see any error above\n"
    let bytes = Array(text.utf8)
    let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)
    buffer.initialize(from: bytes, count: bytes.count)
    TerminationNotice.message = UnsafeBufferPointer(start: buffer, count: bytes.count)
    signal(SIGTERM) { _ in
      if let m = TerminationNotice.message { _ = write(2, m.baseAddress, m.count) }
      _exit(143)
    }
  }
}

/// The preformatted line the SIGTERM handler writes (async-signal-safe: only `write` and `_exit`).
enum TerminationNotice {
  nonisolated(unsafe) static var message: UnsafeBufferPointer<UInt8>?
}
