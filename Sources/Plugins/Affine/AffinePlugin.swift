import QATKit
import QATRegistry

/// Registers the `affine` quantizer: asymmetric integers with a zero point (PyTorch's
/// `fake_quantize_per_tensor_affine` / `per_channel_affine`, torchao's grouped asymmetric
/// weights), per tensor, channel or block, ranges from min/max calibration (``AffineQuantizer``).
///
/// `{"quantizerName": "*weight_quantizer", "cfg": {"format": "uint4", "blockSize": 32, "algorithm": "affine"}}`.
public enum AffinePlugin: QATPlugin {
  /// `"Affine"`.
  public static let name = "Affine"
  /// What it brings.
  public static let summary = "asymmetric integers with zero points (PyTorch's affine fake quantization), per tensor, channel or block"

  /// Registers `affine`.
  public static func register(in registry: inout Registry) throws {
    try registry.register(
      quantizer: "affine", summary: "asymmetric INT/UINT 2-8 with zero point, min/max ranges, per tensor/channel/block; exports codes + zero points"
    ) { try AffineQuantizer(attributes: $0) }
  }
}
