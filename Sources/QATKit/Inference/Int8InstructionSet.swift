internal import CQATKitKernels

/// The instruction set of QATKit's integer (INT8) GEMM kernels, chosen at run time from the CPU.
///
/// All three give bit-identical results (exact integer sums, the same float epilogue); they
/// differ only in speed.
public enum Int8InstructionSet: Int, Sendable, CaseIterable, CustomStringConvertible {
  /// Plain C loops (any CPU).
  case portable = 0
  /// x86-64 AVX2: 8-bit codes widened to 16 bits, `vpmaddwd`.
  case avx2 = 1
  /// x86-64 AVX-512 VNNI: `vpdpbusd`, four 8-bit products per 32-bit lane.
  case avx512VNNI = 2

  /// The fastest set this CPU supports.
  public static var best: Int8InstructionSet { Int8InstructionSet(rawValue: Int(qk_best_isa())) ?? .portable }

  /// Whether this CPU can run it.
  public var isSupported: Bool { qk_isa_supported(Int32(rawValue)) != 0 }

  /// `"portable"`, `"avx2"` or `"avx512-vnni"`.
  public var description: String {
    switch self {
    case .portable: "portable"
    case .avx2: "avx2"
    case .avx512VNNI: "avx512-vnni"
    }
  }
}
