import Testing
@testable import QATKit

/// Issue 10, "bound every allocation whose size comes from a file or config": an architecture
/// file's layer sizes (`"in_features": 1e9`) used to be allocated as given.
@Suite struct ArchitectureLimitsTests {
  @Test(arguments: [
    #"[{"type": "Linear", "in_features": 1000000000, "out_features": 1000000000}]"#,
    #"[{"type": "Linear", "in_features": 100000000000000, "out_features": 100000000000000}]"#,
    #"[{"type": "Embedding", "num_embeddings": 100000000, "embedding_dim": 100}]"#,
    #"[{"type": "Sequential", "layers": [{"type": "Conv2d", "in_channels": 65536, "out_channels": 65536, "kernel_size": 3}]}]"#,
    #"[{"type": "TransformerEncoderBlock", "dim": 65536, "heads": 1, "hidden": 8}]"#,
  ])
  func hugeLayersAreConfigErrors(_ text: String) throws {
    let arch = try Architecture(json: JSONValue(parsing: text))
    #expect {
      try arch.build()
    } throws: { e in
      guard case ConfigError.invalidValue(let context, let path, let message) = e else { return false }
      return context == "architecture" && path == "layers" && message.contains("parameters")
    }
  }

  @Test func parameterCountMatchesTheBuiltModel() throws {
    let text = #"""
      {"input_shape": [4, 8], "layers": [
        {"type": "Linear", "in_features": 8, "out_features": 16},
        {"type": "LayerNorm", "normalized_shape": 16},
        {"type": "TransformerEncoderBlock", "dim": 16, "heads": 2, "hidden": 32},
        {"type": "Linear", "in_features": 16, "out_features": 3, "bias": false}]}
      """#
    let arch = try Architecture(json: JSONValue(parsing: text))
    let model = try arch.build()
    let floats = model.stateDict().reduce(0) { $0 + $1.1.count }
    #expect(arch.parameterCount == floats)
  }
}
