import Foundation
import QATPluginTesting
import Testing

@testable import QATKit

/// The public API plugin kernels and plugin options rely on.
@Suite struct PluginAPITests {
  @Test func tensorValuesAreReadableAndWritable() throws {
    let t = try Tensor(shape: [2, 3]) { out in for i in 0..<out.count { out[i] = Float(i) * 0.5 } }
    #expect(t.scalars == [0, 0.5, 1, 1.5, 2, 2.5])
    #expect(t.withUnsafeBufferPointer { $0.reduce(0, +) } == 7.5)
    t.withUnsafeMutableBufferPointer { $0[1] = 9 }
    #expect(t.scalars[1] == 9)
    try t.assign(values: [1, 2, 3, 4, 5, 6])
    #expect(t.scalars == [1, 2, 3, 4, 5, 6] && t.shape == [2, 3])
    #expect(throws: TensorError.self) { try t.assign(values: [1, 2]) }
    #expect(throws: TensorError.self) { try Tensor(shape: [2, -1]) { _ in } }
    let empty = try Tensor(shape: [0, 4]) { _ in }
    #expect(empty.count == 0)
  }

  /// The division-free group sequence visits exactly the groups of `group(_:)`.
  @Test func groupSequenceMatchesGroupIndex() {
    let cases: [([Int], QuantGranularity)] = [
      ([7], .perTensor), ([3, 4, 5], .perChannel(axis: 0)), ([3, 4, 5], .perChannel(axis: 1)), ([3, 4, 5], .perChannel(axis: 2)),
      ([3, 4, 5], .perChannel(axis: -1)), ([6, 8], .perBlock(size: 4)), ([2, 3], .perBlock(size: 1)), ([1, 1], .perChannel(axis: 0)),
    ]
    for (shape, g) in cases {
      let layout = GroupLayout(g, shape: shape)
      let n = shape.reduce(1, *)
      let fromSequence = Array(layout.groups.prefix(n))
      #expect(fromSequence == (0..<n).map(layout.group), "\(shape) \(g)")
      #expect(fromSequence.allSatisfy { (0..<layout.groupCount).contains($0) })
    }
  }

  struct Nested: PluginOptions, Equatable {
    var a: Int = 3
    var inner = Inner()
    struct Inner: Codable, Equatable { var b: Bool = true; var c: String = "x" }
  }

  struct Strict: Codable, Equatable { var required: Int }

  @Test func pluginOptionsTakeDefaultsAndRejectUnknownKeys() throws {
    #expect(try JSONValue.decodeOptions(nil, as: Nested.self, context: "t") == Nested())
    #expect(try JSONValue.decodeOptions(.object([:]), as: Nested.self, context: "t") == Nested())
    #expect(try JSONValue.decodeOptions(.null, as: Nested.self, context: "t") == Nested())
    let partial = try JSONValue.decodeOptions(JSONValue(parsing: #"{"inner": {"c": "y"}}"#), as: Nested.self, context: "t")
    #expect(partial.a == 3 && partial.inner == .init(b: true, c: "y"))
    #expect {
      try JSONValue.decodeOptions(JSONValue(parsing: #"{"inner": {"cc": "y"}}"#), as: Nested.self, context: "t")
    } throws: { e in
      guard case ConfigError.unknownKey(_, let path, _) = e else { return false }
      return path == "inner.cc" && "\(e)".contains("did you mean 'c'")
    }
    #expect(throws: ConfigError.self) { try JSONValue.decodeOptions(.array([]), as: Nested.self, context: "t") }
    // Plain Codable types stay strict about missing keys.
    #expect(throws: ConfigError.missingKey("t", path: "required")) { try JSONValue.decodeOptions(nil, as: Strict.self, context: "t") }
    // A far-off key gets no suggestion.
    let far = ConfigError.unknownKey("t", path: "__not_an_option__", known: ["gradScale"])
    #expect(!"\(far)".contains("did you mean"))
  }

  @Test func strictSpecsCheckTheirKind() throws {
    let ok = try StrictJSON.decode(Nested.self, from: JSONValue(parsing: #"{"kind": "k", "a": 5}"#), kind: "k")
    #expect(ok.a == 5)
    #expect(try StrictJSON.decode(Nested.self, from: JSONValue(parsing: #"{"a": 5}"#), kind: "k").a == 5)
    #expect(throws: ConfigError.invalidValue("k spec", path: "kind", #"expected "k", got "other""#)) {
      try StrictJSON.decode(Nested.self, from: JSONValue(parsing: #"{"kind": "other"}"#), kind: "k")
    }
    #expect(throws: ConfigError.wrongType("k spec", path: "", expected: "a JSON object")) {
      try StrictJSON.decode(Nested.self, from: .number(1), kind: "k")
    }
    #expect(throws: ConfigError.self) { try StrictJSON.positive(0, "c", path: "p") }
    #expect(throws: ConfigError.self) { try StrictJSON.inRange(5, 1...4, "c", path: "p") }
  }

  /// Algorithm options decode under `algorithmOptions`, and the quantize mode reports them
  /// under the quantizer's path.
  @Test func algorithmOptionErrorsNameTheQuantizerPath() throws {
    var a = QuantizerAttributes.int(4)
    a.algorithm = "opt_test"
    a.algorithmOptions = .object(["aa": .number(1)])
    #expect {
      try a.decodeAlgorithmOptions(Nested.self)
    } throws: { e in
      guard case ConfigError.unknownKey(let context, let path, _) = e else { return false }
      return context == "opt_test options" && path == "algorithmOptions.aa"
    }
    let env = QuantizationEnvironment(
      quantizers: ["opt_test": { attrs in
        _ = try attrs.decodeAlgorithmOptions(Nested.self)
        return try TensorQuantizer(attributes: QuantizerAttributes.int(4))
      }], calibrators: QuantizationEnvironment.builtin.calibrators)
    var context = ModeContext()
    context[QuantizationEnvironmentKey.self] = env
    let config = QuantizeConfig([.init("*weight_quantizer", cfg: a)])
    #expect {
      try QuantizeMode.convert(MLP([4, 3]), config: config, context: context)
    } throws: { e in
      "\(e)" == "quantize config: unknown key 'fc1.weight_quantizer.algorithmOptions.aa' (did you mean 'a'?); known keys: a, inner"
    }
  }
}
