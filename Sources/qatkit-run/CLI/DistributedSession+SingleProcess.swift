import QATKit

/// Commands that have no data-parallel mode yet.
extension DistributedSession {
  /// Throws a usage error when the tool runs as more than one MPI rank: `command` would
  /// otherwise repeat the same work on every rank.
  static func requireSingleProcess(_ command: String) throws {
    guard world.size > 1 else { return }
    throw CLIError.usage(
      "'\(command)' runs in one process (it has no data-parallel mode yet); run it without mpirun / --distributed")
  }
}
