import QATKit
import QATRegistry

/// Registers the `lsq` quantizer algorithm: learned step sizes for integer formats at any
/// granularity. Use it with `"algorithm": "lsq"` in a quantize config.
public enum LSQPlugin: QATPlugin {
  /// `"LSQ"`.
  public static let name = "LSQ"
  /// What it brings.
  public static let summary = "LSQ: learned step size quantization (trainable ranges) for INT formats"

  /// Registers the `lsq` quantizer.
  public static func register(in registry: inout Registry) throws {
    try registry.register(quantizer: "lsq", summary: "learned step size (Esser et al. 2020), INT formats, any granularity") {
      try LSQQuantizer(attributes: $0)
    }
  }
}
