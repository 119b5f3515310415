// swift-tools-version:6.2
import Foundation
import PackageDescription

// Release builds target the CPU family of the machine that compiles them. QATKit is a source
// package: SwiftPM compiles it on the machine that runs it, so the manifest reads the CPU flags
// there (/proc/cpuinfo on x86-64 Linux) and picks the highest x86-64 level they support:
//
// - x86-64-v4 (AVX-512 F/BW/DQ/VL) + the `QATKIT_AVX512` condition: the SGEMM uses its
//   8x32 micro-kernel on zmm registers (twice the AVX2 flops per instruction);
// - x86-64-v3 (AVX2 + FMA + F16C): the 6x16 AVX2 micro-kernel;
// - otherwise (or on macOS/other architectures, where the file does not exist) the baseline.
//
// Without at least x86-64-v3 `rounded()` and `addingProduct` lower to libm calls and the kernels
// run 30-125x slower; -fno-math-errno lets `squareRoot()` vectorize (Adam). Debug builds stay on
// the toolchain's baseline. The trade-off: a release *binary* copied to an older CPU may stop
// with SIGILL. Set QATKIT_PORTABLE=1 to build a release binary for any x86-64 CPU, or
// QATKIT_X86_LEVEL=v3 (or v4, baseline) to pick the level explicitly (e.g. when building on a
// newer machine than the one that will run it). Element-wise kernels give bit-identical results
// at every level (tested); the SGEMM sums in a different order per micro-kernel and is tested
// against a Double-accumulated reference with a tolerance. See Benchmarks/README.md.
let environment = ProcessInfo.processInfo.environment
let portable = environment["QATKIT_PORTABLE"] == "1"

/// The x86-64 microarchitecture level this machine supports: "v4", "v3" or "baseline".
func hostX86Level() -> String {
  guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
    let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
  else { return "baseline" }
  let flags = Set(line.split(separator: " ").map(String.init))
  if ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx2", "fma", "f16c"].allSatisfy(flags.contains) {
    return "v4"
  }
  if ["avx2", "fma", "f16c", "bmi2", "movbe"].allSatisfy(flags.contains) { return "v3" }
  return "baseline"
}

var fastFlags: [SwiftSetting] = []
#if arch(x86_64)
if !portable {
  let level = environment["QATKIT_X86_LEVEL"] ?? hostX86Level()
  let release = BuildSettingCondition.when(configuration: .release)
  switch level {
  case "v4":
    fastFlags = [
      .unsafeFlags(["-Xcc", "-march=x86-64-v4", "-Xcc", "-fno-math-errno"], release),
      .define("QATKIT_AVX512", release),
    ]
  case "v3":
    fastFlags = [.unsafeFlags(["-Xcc", "-march=x86-64-v3", "-Xcc", "-fno-math-errno"], release)]
  default:
    break
  }
}
#endif

let package = Package(
  name: "QATKit",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "QATKit", targets: ["QATKit"]),
    .library(name: "QATRegistry", targets: ["QATRegistry"]),
    .library(name: "QATPlugins", targets: ["QATPlugins"]),
    .library(name: "QATExport", targets: ["QATExport"]),
    .library(name: "QATPluginLSQ", targets: ["QATPluginLSQ"]),
    .library(name: "QATPluginPACT", targets: ["QATPluginPACT"]),
    .library(name: "QATTransformers", targets: ["QATTransformers"]),
    .library(name: "QATDistributed", targets: ["QATDistributed"]),
    .library(name: "QATPluginTTQ", targets: ["QATPluginTTQ"]),
    .library(name: "QATPluginRKD", targets: ["QATPluginRKD"]),
    .library(name: "QATPluginUncertainty", targets: ["QATPluginUncertainty"]),
    .library(name: "QATPluginLSQPlus", targets: ["QATPluginLSQPlus"]),
    .library(name: "QATPluginAWQ", targets: ["QATPluginAWQ"]),
    .library(name: "QATPluginSmoothQuant", targets: ["QATPluginSmoothQuant"]),
    .library(name: "QATPluginGPTQ", targets: ["QATPluginGPTQ"]),
    .library(name: "QATPluginAffine", targets: ["QATPluginAffine"]),
    .library(name: "QATPluginTesting", targets: ["QATPluginTesting"]),
    .executable(name: "qatkit-run", targets: ["qatkit-run"]),
    .executable(name: "qatkit-bench", targets: ["qatkit-bench"]),
  ],
  targets: [
    // MARK: Core
    // Integer GEMM kernels in C: AVX-512 VNNI / AVX2 need per-function target attributes and
    // intrinsics, which Swift cannot express (runtime CPU dispatch, portable fallback).
    .target(name: "CQATKitKernels", path: "Sources/CQATKitKernels"),
    .target(
      name: "QATKit",
      dependencies: ["CQATKitKernels"],
      path: "Sources/QATKit",
      resources: [
        .copy("Resources/digits.csv"),
        .copy("Resources/digits_split.json"),
        .copy("Resources/DIGITS-README.md"),
      ]
    ),
    .target(name: "QATRegistry", dependencies: ["QATKit"], path: "Sources/Registry"),
    // Deployment export: ModelOpt's unified checkpoint (both ways) and ONNX with Q/DQ.
    .target(name: "QATExport", dependencies: ["QATKit"], path: "Sources/Export"),

    // MARK: Plugins (one target per folder under Sources/Plugins)
    .target(
      name: "QATPluginLSQ", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/LSQ"),
    .target(
      name: "QATPluginPACT", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/PACT"),
    .target(
      name: "QATPluginTTQ", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/TTQ"),
    .target(
      name: "QATPluginRKD", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/RKD"),
    .target(
      name: "QATPluginUncertainty", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/Uncertainty"),
    .target(
      name: "QATPluginLSQPlus", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/LSQPlus"),
    .target(
      name: "QATPluginAWQ", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/AWQ"),
    .target(
      name: "QATPluginSmoothQuant", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/SmoothQuant"),
    .target(
      name: "QATPluginGPTQ", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/GPTQ"),
    .target(
      name: "QATPluginAffine", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/Affine"),
    .target(
      name: "QATPlugins",
      dependencies: [
        "QATKit", "QATRegistry", "QATPluginLSQ", "QATPluginPACT", "QATPluginTTQ", "QATPluginRKD",
        "QATPluginUncertainty", "QATPluginLSQPlus", "QATPluginAWQ", "QATPluginSmoothQuant", "QATPluginGPTQ",
        "QATPluginAffine",
      ],
      path: "Sources/QATPlugins"),

    // MARK: Distributed (MPI loaded at run time with dlopen: no MPI needed to build or test)
    .target(name: "QATDistributed", dependencies: ["QATKit"], path: "Sources/Distributed"),

    // MARK: Models
    // A model library registers its ONNX emitters with QATExport (as plugins register with the
    // registry), so QATExport never depends on the models it exports.
    .target(name: "QATTransformers", dependencies: ["QATKit", "QATExport"], path: "Sources/Transformers"),

    // MARK: Tools
    .executableTarget(
      name: "qatkit-run",
      dependencies: ["QATKit", "QATRegistry", "QATPlugins", "QATDistributed", "QATExport", "QATTransformers"],
      path: "Sources/qatkit-run",
      exclude: ["Resources/README.md"],
      resources: [.copy("Resources/mlp_digits_fp32.safetensors"), .copy("Resources/minilm")],
      // Run-time plugins (`--plugin libX.so`) bind to QATKit's symbols in this executable: export
      // them (SwiftPM exports none by default). Only this leaf target; dependents never build it.
      linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic"], .when(platforms: [.linux]))]),
    .executableTarget(
      name: "qatkit-bench", dependencies: ["QATKit", "QATRegistry", "QATPlugins", "QATTransformers", "CQATKitKernels"],
      path: "Benchmarks/qatkit-bench"),
    .executableTarget(
      name: "qatkit-mpi-bench", dependencies: ["QATKit", "QATDistributed"], path: "Benchmarks/qatkit-mpi-bench"),

    // MARK: Plugin kit (conformance suites, gradient checks; no test framework dependency)
    .target(name: "QATPluginTesting", dependencies: ["QATKit", "QATRegistry"], path: "Sources/QATPluginTesting"),

    // MARK: Tests
    // The checks that need MPI ranks: run by .ci/mpi-tests.sh under mpirun.
    .executableTarget(
      name: "qatkit-mpi-check", dependencies: ["QATKit", "QATRegistry", "QATPlugins", "QATDistributed"],
      path: "Tests/MPICheck"),
    .target(name: "QATTestSupport", dependencies: ["QATKit", "QATPluginTesting"], path: "Tests/QATTestSupport"),
    .testTarget(
      name: "QATKitTests", dependencies: ["QATKit", "QATPluginTesting", "QATTestSupport"],
      path: "Tests/QATKitTests", resources: [.copy("Fixtures")]),
    .testTarget(
      name: "QATRegistryTests",
      dependencies: ["QATKit", "QATRegistry", "QATPlugins", "QATPluginTesting", "QATTestSupport"],
      path: "Tests/QATRegistryTests", resources: [.copy("Fixtures")]),
    .testTarget(name: "QATDistributedTests", dependencies: ["QATDistributed"], path: "Tests/QATDistributedTests"),
    .testTarget(
      name: "QATExportTests",
      dependencies: ["QATKit", "QATRegistry", "QATPlugins", "QATExport", "QATTransformers", "QATTestSupport"],
      path: "Tests/QATExportTests", resources: [.copy("Fixtures")]),
    .testTarget(
      name: "QATKitRunTests",
      dependencies: ["QATKit", "QATRegistry", "QATPlugins", "QATTransformers", "QATTestSupport"],
      path: "Tests/QATKitRunTests"),
    .testTarget(
      name: "QATPluginTests",
      dependencies: [
        "QATKit", "QATRegistry", "QATPlugins", "QATPluginLSQ", "QATPluginPACT", "QATPluginTTQ", "QATPluginRKD",
        "QATPluginUncertainty", "QATPluginLSQPlus", "QATPluginAWQ", "QATPluginSmoothQuant", "QATPluginGPTQ",
        "QATPluginAffine", "QATPluginTesting", "QATTestSupport",
      ],
      path: "Tests/QATPluginTests", resources: [.copy("Fixtures")]),
    .testTarget(
      name: "QATTransformersTests",
      dependencies: ["QATKit", "QATRegistry", "QATPlugins", "QATTransformers", "QATPluginTesting", "QATTestSupport"],
      path: "Tests/QATTransformersTests", resources: [.copy("Fixtures")]),
  ],
  swiftLanguageModes: [.v6]
)

for target in package.targets where target.type != .plugin && target.type != .binary && target.name != "CQATKitKernels" {
  var settings = target.swiftSettings ?? []
  settings.append(.enableUpcomingFeature("ExistentialAny"))
  settings.append(.enableUpcomingFeature("MemberImportVisibility"))
  if target.type != .test { settings.append(contentsOf: fastFlags) }
  target.swiftSettings = settings
}
