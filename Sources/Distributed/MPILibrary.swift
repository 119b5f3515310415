import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The MPI implementation families whose binary interface this module knows. Their handles
/// differ: Open MPI's `MPI_Comm`, `MPI_Datatype`, `MPI_Op` are pointers to global structs the
/// library exports (`&ompi_mpi_comm_world`), MPICH's (and its ABI-compatible derivatives':
/// Intel MPI, MVAPICH) are documented integer constants (`MPI_COMM_WORLD` = `0x44000000`).
public enum MPIImplementation: String, Sendable {
  /// Open MPI (`libmpi.so.40`).
  case openMPI = "Open MPI"
  /// MPICH and its ABI (`libmpi.so.12`, `libmpich.so.12`).
  case mpich = "MPICH"
}

/// An MPI library loaded at run time with `dlopen`, its functions found with `dlsym` and its
/// handles resolved for the detected implementation. Nothing of MPI is needed at build time, so
/// the package builds and tests on machines without MPI.
///
/// Handles are passed as pointer-sized integers: an Open MPI handle is an address; an MPICH
/// handle is a C `int`, which the C calling convention passes in the low half of the same
/// register.
package struct MPILibrary: @unchecked Sendable {
  package typealias Handle = UInt
  package typealias IntOut = UnsafeMutablePointer<Int32>

  /// Where it was loaded from.
  package let path: String
  /// Open MPI or MPICH.
  package let implementation: MPIImplementation
  /// `MPI_Get_library_version`'s first line.
  package let version: String

  package let commWorld: Handle
  package let float: Handle
  package let double: Handle
  package let byte: Handle
  package let opSum: Handle
  package let opMax: Handle
  package let opMin: Handle
  package let errorsReturn: Handle
  /// `MPI_IN_PLACE`: `(void *)1` in Open MPI, `(void *)-1` in MPICH.
  package let inPlace: UnsafeRawPointer

  package let initialized: @convention(c) (IntOut) -> Int32
  package let finalized: @convention(c) (IntOut) -> Int32
  package let initThread: @convention(c) (IntOut?, UnsafeMutableRawPointer?, Int32, IntOut) -> Int32
  package let commRank: @convention(c) (Handle, IntOut) -> Int32
  package let commSize: @convention(c) (Handle, IntOut) -> Int32
  package let commSetErrhandler: @convention(c) (Handle, Handle) -> Int32
  package let allreduce: @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle) -> Int32
  package let bcast: @convention(c) (UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle) -> Int32
  package let abort: @convention(c) (Handle, Int32) -> Int32
  package let finalize: @convention(c) () -> Int32
  package let errorString: @convention(c) (Int32, UnsafeMutablePointer<CChar>, IntOut) -> Int32

  /// The names tried, in order, when `QATKIT_MPI_LIBRARY` is not set: Open MPI 3-5's soname,
  /// the MPICH ABI's, Debian's MPICH name, then the development symlink.
  package static let defaultNames = ["libmpi.so.40", "libmpi.so.12", "libmpich.so.12", "libmpi.so"]

  /// Loads the first library of `names` that opens and identifies its implementation.
  ///
  /// - Throws: ``MPIError`` when none loads, the library is not Open MPI or MPICH-ABI, or it
  ///   lacks an MPI-3 function.
  package static func load(names: [String]) throws -> MPILibrary {
    var reasons: [String] = []
    for name in names {
      // RTLD_GLOBAL: Open MPI's components are plugins that resolve symbols of libmpi.
      guard let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) else {
        reasons.append(dlerror().map { String(cString: $0) } ?? "\(name): cannot open")
        continue
      }
      return try MPILibrary(handle: handle, path: name)
    }
    throw MPIError.libraryNotFound(tried: names, reasons: reasons)
  }

  private init(handle: UnsafeMutableRawPointer, path: String) throws {
    func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
      guard let s = dlsym(handle, name) else { throw MPIError.missingSymbol(path: path, symbol: name) }
      return s
    }
    func function<F>(_ name: String, _ type: F.Type) throws -> F { unsafeBitCast(try symbol(name), to: type) }
    self.path = path
    let libraryVersion = try function(
      "MPI_Get_library_version", (@convention(c) (UnsafeMutablePointer<CChar>, IntOut) -> Int32).self)
    var text = [CChar](repeating: 0, count: 8192)
    var length: Int32 = 0
    _ = libraryVersion(&text, &length)
    let full = String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    version = full.split(separator: "\n").first.map(String.init) ?? full

    if dlsym(handle, "ompi_mpi_comm_world") != nil {
      implementation = .openMPI
      func global(_ name: String) throws -> Handle { Handle(bitPattern: try symbol(name)) }
      commWorld = try global("ompi_mpi_comm_world")
      float = try global("ompi_mpi_float")
      double = try global("ompi_mpi_double")
      byte = try global("ompi_mpi_byte")
      opSum = try global("ompi_mpi_op_sum")
      opMax = try global("ompi_mpi_op_max")
      opMin = try global("ompi_mpi_op_min")
      errorsReturn = try global("ompi_mpi_errors_return")
      inPlace = UnsafeRawPointer(bitPattern: 1)!
    } else if ["MPICH", "Intel(R) MPI", "MVAPICH"].contains(where: full.contains) {
      implementation = .mpich
      // MPICH's mpi.h (ABI-stable since MPICH 3.1).
      commWorld = 0x4400_0000
      float = 0x4c00_040a
      double = 0x4c00_080b
      byte = 0x4c00_010d
      opMax = 0x5800_0001
      opMin = 0x5800_0002
      opSum = 0x5800_0003
      errorsReturn = 0x5400_0001
      inPlace = UnsafeRawPointer(bitPattern: -1)!
    } else {
      throw MPIError.unsupportedImplementation(path: path, version: version)
    }
    initialized = try function("MPI_Initialized", (@convention(c) (IntOut) -> Int32).self)
    finalized = try function("MPI_Finalized", (@convention(c) (IntOut) -> Int32).self)
    initThread = try function(
      "MPI_Init_thread", (@convention(c) (IntOut?, UnsafeMutableRawPointer?, Int32, IntOut) -> Int32).self)
    commRank = try function("MPI_Comm_rank", (@convention(c) (Handle, IntOut) -> Int32).self)
    commSize = try function("MPI_Comm_size", (@convention(c) (Handle, IntOut) -> Int32).self)
    commSetErrhandler = try function("MPI_Comm_set_errhandler", (@convention(c) (Handle, Handle) -> Int32).self)
    allreduce = try function(
      "MPI_Allreduce", (@convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle) -> Int32).self)
    bcast = try function("MPI_Bcast", (@convention(c) (UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle) -> Int32).self)
    abort = try function("MPI_Abort", (@convention(c) (Handle, Int32) -> Int32).self)
    finalize = try function("MPI_Finalize", (@convention(c) () -> Int32).self)
    errorString = try function("MPI_Error_string", (@convention(c) (Int32, UnsafeMutablePointer<CChar>, IntOut) -> Int32).self)
  }

  /// `MPI_Error_string` of `code`.
  package func message(for code: Int32) -> String {
    var text = [CChar](repeating: 0, count: 4096)
    var length: Int32 = 0
    guard errorString(code, &text, &length) == 0 else { return "MPI error \(code)" }
    return String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self) + " (MPI error \(code))"
  }
}
