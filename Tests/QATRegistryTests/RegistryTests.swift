import Synchronization
import Dispatch
import Foundation
import QATKit
import Testing
@testable import QATRegistry

@Suite struct RegistryTests {
  @Test func unknownNameSuggestsNearest() throws {
    let r = try testRegistry()
    #expect {
      try r.mode("test_scal")
    } throws: { e in
      guard case RegistryError.unknownName(let kind, _, let known, let suggestion) = e else { return false }
      return kind == "mode" && suggestion == "test_scale" && known.contains("test_tag")
    }
    let message = "\(RegistryError.unknownName(kind: "mode", name: "x", known: ["a"], suggestion: "a"))"
    #expect(message.contains("did you mean 'a'"))
  }

  @Test func duplicateRegistrationIsAnErrorAndLeavesRegistryUnchanged() throws {
    var r = try testRegistry()
    let before = r.allEntries
    #expect(throws: RegistryError.self) { try r.register(TestPlugin.self) }
    #expect(r.allEntries == before)
    #expect(r.entry(.mode, "test_scale")?.plugin == "TestPlugin")
  }

  @Test func concurrentLookupsFromManyThreads() throws {
    let r = try testRegistry()
    let shared = SharedRegistry(r)
    let failures = Synchronization.Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: 64) { i in
      let snap = shared.snapshot()
      for name in ["test_scale", "test_tag", "test_export"] {
        if (try? snap.mode(name))?.name != name { failures.add(1, ordering: .relaxed) }
      }
      if i == 10 { try? shared.register(ExtraPlugin.self) }
    }
    #expect(failures.load(ordering: .relaxed) == 0)
    #expect(shared.snapshot().entry(.mode, "test_extra") != nil)
  }
}

enum ExtraMode: Mode {
  struct Config: Codable {}
  static let name = "test_extra"
  static let summary = "extra"
  static func convert(_ model: Module, config: Config, context: ModeContext) throws -> (Module, JSONValue) { (model, .null) }
  static func restore(_ model: Module, config: Config, metadata: JSONValue, context: ModeContext) throws -> Module { model }
}
enum ExtraPlugin: QATPlugin {
  static let name = "Extra"
  static let summary = "extra"
  static func register(in registry: inout Registry) throws { try registry.register(mode: ExtraMode.self) }
}
