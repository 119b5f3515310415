import Foundation
import QATKit
@testable import QATRegistry

/// A test quantizer that scales its input by a stored factor (state `_scale`).
final class ScaleQuantizer: Quantizer {
  var isEnabled = true
  let attributes = QuantizerAttributes(algorithm: "test_scale")
  let scale: Tensor
  init(_ s: Float) { scale = Tensor(scalar: s) }
  func callAsFunction(_ x: Tensor) -> Tensor { x * scale }
  func stateTensors() -> [(String, Tensor)] { [("_scale", scale)] }
}

/// Inserts ScaleQuantizers on every Linear output; metadata lists the paths.
enum ScaleMode: Mode {
  struct Config: Codable, Equatable { var factor: Float; var failAfterInsert: Bool? = nil }
  static let name = "test_scale"
  static let summary = "scales Linear outputs (test)"
  static let allowedNext: Set<String>? = ["test_scale", "test_tag", "test_export_owner"]
  static func validate(_ config: Config, for model: Module) throws {
    if config.factor <= 0 { throw ConfigError.invalidValue("test_scale config", path: "factor", "must be > 0") }
  }
  static func convert(_ model: Module, config: Config, context: ModeContext) throws -> (Module, JSONValue) {
    var paths: [JSONValue] = []
    for (path, m) in model.namedModules() where m is Linear {
      m.setQuantizer(ScaleQuantizer(config.factor), slot: "output_quantizer")
      paths.append(.string(path))
    }
    for p in model.parameters() { try p.assign(values: p.scalars.map { $0 + 1 }) }
    if config.failAfterInsert == true { throw ConfigError.invalidValue("test_scale", path: "failAfterInsert", "asked to fail") }
    return (model, .object(["paths": .array(paths)]))
  }
  static func restore(_ model: Module, config: Config, metadata: JSONValue, context: ModeContext) throws -> Module {
    guard case .array(let paths)? = metadata["paths"] else { throw RegistryError.checkpoint("no paths") }
    for case .string(let p) in paths { try model.module(at: p).setQuantizer(ScaleQuantizer(1), slot: "output_quantizer") }
    return model
  }
}

/// A mode that only records itself; nothing may follow it but `test_scale`.
enum TagMode: Mode {
  struct Config: Codable, Equatable { var tag: String }
  static let name = "test_tag"
  static let summary = "records a tag (test)"
  static let allowedNext: Set<String>? = ["test_scale"]
  static func convert(_ model: Module, config: Config, context: ModeContext) throws -> (Module, JSONValue) { (model, .null) }
  static func restore(_ model: Module, config: Config, metadata: JSONValue, context: ModeContext) throws -> Module { model }
}

/// A mode that must be closed by `test_export`.
enum ExportOwnerMode: Mode {
  struct Config: Codable, Equatable {}
  static let name = "test_export_owner"
  static let summary = "needs test_export (test)"
  static let exportMode: String? = "test_export"
  static func convert(_ model: Module, config: Config, context: ModeContext) throws -> (Module, JSONValue) { (model, .null) }
  static func restore(_ model: Module, config: Config, metadata: JSONValue, context: ModeContext) throws -> Module { model }
}

enum ExportMode: Mode {
  struct Config: Codable, Equatable {}
  static let name = "test_export"
  static let summary = "closes test_export_owner (test)"
  static let isExport = true
  static func convert(_ model: Module, config: Config, context: ModeContext) throws -> (Module, JSONValue) { (model, .null) }
  static func restore(_ model: Module, config: Config, metadata: JSONValue, context: ModeContext) throws -> Module { model }
}

enum TestPlugin: QATPlugin {
  static let name = "TestPlugin"
  static let summary = "test modes"
  static func register(in registry: inout Registry) throws {
    try registry.register(mode: ScaleMode.self)
    try registry.register(mode: TagMode.self)
    try registry.register(mode: ExportOwnerMode.self)
    try registry.register(mode: ExportMode.self)
  }
}

func testRegistry() throws -> Registry {
  var r = Registry.builtin
  try r.register(TestPlugin.self)
  return r
}

func fixtures() -> URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }

func tempURL(_ name: String) -> URL {
  let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qatkit-tests-\(UUID().uuidString)")
  try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  return dir.appendingPathComponent(name)
}

func outputs(_ m: Module, seed: UInt64 = 7) -> [Float] {
  var rng = RandomGenerator(seed: seed)
  let x = Tensor.randn([5, 4], using: &rng)
  return Tensor.withoutGrad { m(x) }.scalars
}
