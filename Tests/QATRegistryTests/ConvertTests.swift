import Foundation
import QATKit
import Testing
@testable import QATRegistry

@Suite struct ConvertTests {
  @Test func typedAndNamedStepsRecordHistory() throws {
    let r = try testRegistry()
    let m = MLP([4, 6, 3])
    try convert(m, modes: [.mode(ScaleMode.self, .init(factor: 2)), .named("test_tag", .object(["tag": .string("x")]))], registry: r)
    #expect(m.modeHistory.map(\.name) == ["test_scale", "test_tag"])
    #expect(m.modeHistory[0].config["factor"] == .number(2))
    #expect(m.layers[0].quantizer(slot: "output_quantizer") != nil)
  }

  @Test func unknownConfigKeyNamesKeyPath() throws {
    let r = try testRegistry()
    let m = MLP([4, 6, 3])
    #expect {
      try convert(m, modes: [.named("test_scale", .object(["factor": .number(1), "facter": .number(2)]))], registry: r)
    } throws: { "\($0)".contains("unknown key 'facter'") }
    #expect {
      try convert(m, modes: [.named("test_scale", .object(["factor": .string("big")]))], registry: r)
    } throws: { "\($0)".contains("'factor' has the wrong type") }
    #expect(m.modeHistory.isEmpty)
  }

  @Test func chainRulesAreCheckedBeforeTouchingTheModel() throws {
    let r = try testRegistry()
    let m = MLP([4, 6, 3])
    let before = outputs(m)
    // test_tag allows only test_scale next.
    #expect(throws: RegistryError.self) {
      try convert(m, modes: [.named("test_tag", .object(["tag": .string("a")])), .named("test_tag", .object(["tag": .string("b")]))], registry: r)
    }
    #expect(outputs(m) == before)
    #expect(m.modeHistory.isEmpty)
    // History counts too.
    try convert(m, modes: [.named("test_tag", .object(["tag": .string("a")]))], registry: r)
    #expect(throws: RegistryError.self) { try convert(m, modes: [.named("test_tag", .object(["tag": .string("b")]))], registry: r) }
  }

  @Test func exportModesMustCloseTheirOwner() throws {
    let r = try testRegistry()
    #expect(throws: RegistryError.self) { try convert(MLP([2, 2]), modes: [.named("test_export")], registry: r) }
    let m = MLP([2, 2])
    try convert(m, modes: [.named("test_export_owner"), .named("test_export")], registry: r)
    #expect(m.modeHistory.map(\.name) == ["test_export_owner", "test_export"])
  }

  @Test func failingModeLeavesModelExactlyAsItWas() throws {
    let r = try testRegistry()
    let m = MLP([4, 6, 3])
    let before = outputs(m)
    let state = m.stateDict().map { ($0.0, $0.1.scalars) }
    #expect {
      try convert(m, modes: [.mode(ScaleMode.self, .init(factor: 3)), .mode(ScaleMode.self, .init(factor: 2, failAfterInsert: true))], registry: r)
    } throws: { e in
      guard case RegistryError.modeFailed(let mode, let index, _) = e else { return false }
      return mode == "test_scale" && index == 1
    }
    #expect(outputs(m) == before)
    #expect(m.stateDict().map { ($0.0, $0.1.scalars) }.elementsEqual(state) { $0.0 == $1.0 && $0.1 == $1.1 })
    #expect(m.namedQuantizers().isEmpty)
    #expect(m.modeHistory.isEmpty)
  }

  @Test func validationErrorNamesTheMode() throws {
    let r = try testRegistry()
    #expect {
      try convert(MLP([2, 2]), modes: [.mode(ScaleMode.self, .init(factor: -1))], registry: r)
    } throws: { "\($0)".contains("'test_scale'") && "\($0)".contains("factor") }
  }
}
