// swift-tools-version:6.2
import Foundation
import PackageDescription

// Release builds on x86-64 target x86-64-v3 (AVX2 + FMA + F16C): without it `rounded()`
// and `addingProduct` lower to libm calls and the kernels run 30-125x slower;
// -fno-math-errno lets `squareRoot()` vectorize (Adam). Debug builds
// and other architectures stay on the toolchain's baseline. Set QATKIT_PORTABLE=1 to build
// a release binary for any x86-64 CPU; the kernels give bit-identical results either way
// (tested), only slower. See README "Build settings".
let portable = ProcessInfo.processInfo.environment["QATKIT_PORTABLE"] == "1"
var fastFlags: [SwiftSetting] = []
#if arch(x86_64)
if !portable {
  fastFlags = [.unsafeFlags(["-Xcc", "-march=x86-64-v3", "-Xcc", "-fno-math-errno"], .when(configuration: .release))]
}
#endif

let package = Package(
  name: "QATKit",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "QATKit", targets: ["QATKit"]),
    .library(name: "QATRegistry", targets: ["QATRegistry"]),
    .library(name: "QATPlugins", targets: ["QATPlugins"]),
    .library(name: "QATPluginLSQ", targets: ["QATPluginLSQ"]),
    .library(name: "QATPluginPACT", targets: ["QATPluginPACT"]),
    .executable(name: "qatkit-run", targets: ["qatkit-run"]),
    .executable(name: "qatkit-bench", targets: ["qatkit-bench"]),
  ],
  targets: [
    // MARK: Core
    .target(
      name: "QATKit",
      path: "Sources/QATKit",
      resources: [
        .copy("Resources/digits.csv"),
        .copy("Resources/digits_split.json"),
        .copy("Resources/DIGITS-README.md"),
      ]
    ),
    .target(name: "QATRegistry", dependencies: ["QATKit"], path: "Sources/Registry"),

    // MARK: Plugins (one target per folder under Sources/Plugins)
    .target(
      name: "QATPluginLSQ", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/LSQ"),
    .target(
      name: "QATPluginPACT", dependencies: ["QATKit", "QATRegistry"], path: "Sources/Plugins/PACT"),
    .target(
      name: "QATPlugins",
      dependencies: ["QATKit", "QATRegistry", "QATPluginLSQ", "QATPluginPACT"],
      path: "Sources/QATPlugins"),

    // MARK: Tools
    .executableTarget(
      name: "qatkit-run", dependencies: ["QATKit", "QATRegistry", "QATPlugins"],
      path: "Sources/qatkit-run",
      exclude: ["Resources/README.md"],
      resources: [.copy("Resources/mlp_digits_fp32.safetensors")]),
    .executableTarget(
      name: "qatkit-bench", dependencies: ["QATKit", "QATRegistry", "QATPlugins"],
      path: "Benchmarks/qatkit-bench"),

    // MARK: Tests
    .target(name: "QATTestSupport", dependencies: ["QATKit"], path: "Tests/QATTestSupport"),
    .testTarget(
      name: "QATKitTests", dependencies: ["QATKit", "QATTestSupport"],
      path: "Tests/QATKitTests", resources: [.copy("Fixtures")]),
    .testTarget(
      name: "QATRegistryTests",
      dependencies: ["QATKit", "QATRegistry", "QATPlugins", "QATTestSupport"],
      path: "Tests/QATRegistryTests", resources: [.copy("Fixtures")]),
    .testTarget(
      name: "QATPluginTests",
      dependencies: ["QATKit", "QATRegistry", "QATPlugins", "QATPluginLSQ", "QATPluginPACT", "QATTestSupport"],
      path: "Tests/QATPluginTests", resources: [.copy("Fixtures")]),
  ],
  swiftLanguageModes: [.v6]
)

for target in package.targets where target.type != .plugin && target.type != .binary {
  var settings = target.swiftSettings ?? []
  settings.append(.enableUpcomingFeature("ExistentialAny"))
  settings.append(.enableUpcomingFeature("MemberImportVisibility"))
  if target.type != .test { settings.append(contentsOf: fastFlags) }
  target.swiftSettings = settings
}
