// swift-tools-version:6.2
// An out-of-tree QATKit plugin package: a logarithmic (power-of-two) weight quantizer, its
// XCTest suite on QATKit's conformance kit, and a demo that uses it from Swift and from a JSON
// recipe. Built, tested and run by QATKit's CI (scripts/check-examples.sh).
import Foundation
import PackageDescription

// QATKit's source tree: $QATKIT_PATH, or the repository this example lives in.
let qatkitPath = URL(
  fileURLWithPath: Context.environment["QATKIT_PATH"] ?? Context.packageDirectory + "/../.."
).standardizedFileURL.path
// SwiftPM names a path dependency after its folder.
let qatkit = URL(fileURLWithPath: qatkitPath).lastPathComponent

let package = Package(
  name: "LogQuant",
  platforms: [.macOS(.v15)],
  products: [.library(name: "LogQuant", targets: ["LogQuant"])],
  dependencies: [.package(path: qatkitPath)],
  targets: [
    .target(
      name: "LogQuant",
      dependencies: [.product(name: "QATKit", package: qatkit), .product(name: "QATRegistry", package: qatkit)]),
    .executableTarget(
      name: "logquant-demo",
      dependencies: ["LogQuant", .product(name: "QATKit", package: qatkit), .product(name: "QATRegistry", package: qatkit)]),
    .testTarget(
      name: "LogQuantTests",
      dependencies: [
        "LogQuant", .product(name: "QATKit", package: qatkit), .product(name: "QATRegistry", package: qatkit),
        .product(name: "QATPluginTesting", package: qatkit),
      ]),
  ],
  swiftLanguageModes: [.v6]
)
