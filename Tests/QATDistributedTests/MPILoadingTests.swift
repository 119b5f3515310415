import Testing

@testable import QATDistributed

/// What works without MPI: loading errors and launch detection. The collectives over real MPI
/// ranks are checked by `qatkit-mpi-check` under `mpirun` (.ci/mpi-tests.sh).
@Suite("MPILoadingTests")
struct MPILoadingTests {
  @Test("a missing MPI library is a typed error that says what was tried and how to install MPI")
  func missingLibrary() {
    #expect {
      _ = try MPILibrary.load(names: ["/nonexistent/libmpi.so.40", "libqatkit-no-such-mpi.so"])
    } throws: { error in
      guard case MPIError.libraryNotFound(let tried, let reasons) = error else { return false }
      let message = "\(error)"
      return tried.count == 2 && reasons.count == 2 && message.contains("apt-get install libopenmpi-dev openmpi-bin")
        && message.contains("QATKIT_MPI_LIBRARY")
    }
  }

  @Test("a library that is not MPI is refused, naming the missing MPI function")
  func notMPI() {
    #if os(Linux)
      let library = "libm.so.6"
    #else
      let library = "/usr/lib/libSystem.B.dylib"
    #endif
    #expect {
      _ = try MPILibrary.load(names: [library])
    } throws: { error in
      guard case MPIError.missingSymbol(let path, let symbol) = error else { return false }
      return path == library && symbol == "MPI_Get_library_version" && "\(error)".contains("MPI-3")
    }
  }

  @Test("launch detection: Open MPI's, Hydra/PMI-2's and PMIx's variables; none outside a launcher")
  func launchDetection() {
    #expect(!MPILaunch.isLaunched(environment: ["PATH": "/usr/bin"]))
    #expect(MPILaunch.isLaunched(environment: ["OMPI_COMM_WORLD_SIZE": "2"]))
    #expect(MPILaunch.isLaunched(environment: ["PMI_SIZE": "4"]))
    #expect(MPILaunch.isLaunched(environment: ["PMIX_RANK": "0"]))
  }
}
