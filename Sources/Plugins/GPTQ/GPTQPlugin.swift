import QATKit
import QATRegistry

/// Registers the `gptq` calibration algorithm of Frantar et al., *GPTQ: Accurate Post-Training
/// Quantization for Generative Pre-trained Transformers* (ICLR 2023): weights rounded column by
/// column, each column's rounding error compensated on the columns not yet rounded through the
/// inverse Hessian `(2·XᵀX + λI)⁻¹` of the layer's calibration inputs (``GPTQ``).
///
/// `{"quantCfg": [...INT4/INT3 weights, per channel or in blocks...], "algorithm": {"method": "gptq", "percDamp": 0.01, "blockSize": 128, "actOrder": true}}`.
public enum GPTQPlugin: QATPlugin {
  /// `"GPTQ"`.
  public static let name = "GPTQ"
  /// What it brings.
  public static let summary = "GPTQ (Frantar et al. 2023): Hessian-compensated weight rounding for INT2-8 weights"

  /// Registers `gptq`.
  public static func register(in registry: inout Registry) throws {
    try registry.register(
      algorithm: "gptq",
      summary: "GPTQ (Frantar et al. 2023): column-wise rounding with inverse-Hessian error compensation (damping, blocks, act order)"
    ) { try GPTQ(options: JSONValue.decodeOptions($0, as: GPTQ.Options.self, context: "gptq options")) }
  }
}
