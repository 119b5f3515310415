import QATKit
import QATRegistry

/// Registers the `ttq` quantizer algorithm: trained ternary weights with learned positive and
/// negative scales (Zhu et al., "Trained Ternary Quantization", ICLR 2017). Use it with
/// `"algorithm": "ttq", "format": "int2"` on `*weight_quantizer` entries.
public enum TTQPlugin: QATPlugin {
  /// `"TTQ"`.
  public static let name = "TTQ"
  /// What it brings.
  public static let summary = "TTQ: trained ternary weights {−Wn, 0, +Wp} with learned scales (Zhu et al. 2017)"

  /// Registers the `ttq` quantizer.
  public static func register(in registry: inout Registry) throws {
    try registry.register(
      quantizer: "ttq", summary: "trained ternary quantization (Zhu et al. 2017): learned Wp, Wn per group, format int2"
    ) { try TTQQuantizer(attributes: $0) }
  }
}
