/// Errors of loading and starting MPI.
public enum MPIError: Error, Equatable, CustomStringConvertible {
  /// No MPI library could be loaded: the names tried and the loader's messages.
  case libraryNotFound(tried: [String], reasons: [String])
  /// A library was loaded but is not an MPI this module knows (its version string).
  case unsupportedImplementation(path: String, version: String)
  /// A function the module needs is missing from the library.
  case missingSymbol(path: String, symbol: String)
  /// `MPI_Init_thread` or a query after it failed.
  case initializationFailed(String)

  /// A message naming the problem and what to do.
  public var description: String {
    switch self {
    case .libraryNotFound(let tried, let reasons):
      "cannot load an MPI library (tried \(tried.joined(separator: ", ")): \(reasons.last ?? "not found")); install Open MPI "
        + "(Debian/Ubuntu: apt-get install libopenmpi-dev openmpi-bin) or MPICH, or set QATKIT_MPI_LIBRARY to the path of libmpi.so"
    case .unsupportedImplementation(let path, let version):
      "\(path) is neither Open MPI nor an MPICH-ABI library (it reports '\(version)'); QATKit supports Open MPI and MPICH "
        + "(and MPICH-ABI derivatives); set QATKIT_MPI_LIBRARY to one of those"
    case .missingSymbol(let path, let symbol):
      "\(path) has no '\(symbol)': an MPI older than MPI-3 or not an MPI library; QATKit needs MPI-3"
    case .initializationFailed(let message):
      "MPI initialization failed: \(message)"
    }
  }
}
