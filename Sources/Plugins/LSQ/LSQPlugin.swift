import QATKit
import QATRegistry

/// Registers the `lsq` quantizer algorithm: learned step sizes for integer formats at any
/// granularity. Use it with `"algorithm": "lsq"` in a quantize config, or follow `quantize`
/// (e.g. with a calibration algorithm) with the `lsq_ranges` mode to learn the ranges it chose.
public enum LSQPlugin: QATPlugin {
  /// `"LSQ"`.
  public static let name = "LSQ"
  /// What it brings.
  public static let summary = "LSQ: learned step size quantization (trainable ranges) for INT formats"

  /// Registers the `lsq` quantizer and the `lsq_ranges` mode (``LSQRangesMode``).
  public static func register(in registry: inout Registry) throws {
    try registry.register(mode: LSQRangesMode.self)
    try registry.register(quantizer: "lsq", summary: "learned step size (Esser et al. 2020), INT formats, any granularity") {
      try LSQQuantizer(attributes: $0)
    }
  }
}
