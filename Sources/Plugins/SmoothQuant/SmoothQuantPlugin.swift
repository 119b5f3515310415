import QATKit
import QATRegistry

/// Registers the `smoothquant` calibration algorithm of Xiao et al., *SmoothQuant: Accurate and
/// Efficient Post-Training Quantization for Large Language Models* (ICML 2023): per input
/// channel, activation outliers migrate into the weights with strength α before W8A8
/// quantization (``SmoothQuant``).
///
/// `{"quantCfg": [...INT8 weights and inputs...], "algorithm": {"method": "smoothquant", "alpha": 0.5}}`.
public enum SmoothQuantPlugin: QATPlugin {
  /// `"SmoothQuant"`.
  public static let name = "SmoothQuant"
  /// What it brings.
  public static let summary = "SmoothQuant (Xiao et al. 2023): migrate activation outliers into weights for W8A8"

  /// Registers `smoothquant`.
  public static func register(in registry: inout Registry) throws {
    try registry.register(
      algorithm: "smoothquant",
      summary: "SmoothQuant (Xiao et al. 2023): s = max|x|^α / max|w|^(1-α) per input channel, folded or pre_quant_scale"
    ) { try SmoothQuant(options: JSONValue.decodeOptions($0, as: SmoothQuant.Options.self, context: "smoothquant options")) }
  }
}
