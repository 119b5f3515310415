import QATKit
import QATRegistry

/// Registers the `lsq_plus` quantizer algorithm: learned scale and learned offset for
/// asymmetric activations (Bhalgat et al., CVPR Workshops 2020). Use it with
/// `"algorithm": "lsq_plus"` and an unsigned integer format on `*input_quantizer` entries.
public enum LSQPlusPlugin: QATPlugin {
  /// `"LSQPlus"`.
  public static let name = "LSQPlus"
  /// What it brings.
  public static let summary = "LSQ+: learned scale and offset for asymmetric activations (Bhalgat et al. 2020)"

  /// Registers the `lsq_plus` quantizer.
  public static func register(in registry: inout Registry) throws {
    try registry.register(
      quantizer: "lsq_plus", summary: "LSQ+ (Bhalgat et al. 2020): learned scale s and offset β, INT formats, any granularity"
    ) { try LSQPlusQuantizer(attributes: $0) }
  }
}
