import QATKit
import QATRegistry

/// Registers the `pact` quantizer algorithm: a learned per-tensor clipping level for
/// activations. Use it with `"algorithm": "pact"` on `*input_quantizer` entries.
public enum PACTPlugin: QATPlugin {
  /// `"PACT"`.
  public static let name = "PACT"
  /// What it brings.
  public static let summary = "PACT: learned activation clipping (per-tensor, INT formats)"

  /// Registers the `pact` quantizer.
  public static func register(in registry: inout Registry) throws {
    try registry.register(quantizer: "pact", summary: "learned clipping level α (Choi et al. 2018), per-tensor INT") {
      try PACTQuantizer(attributes: $0)
    }
  }
}
