import QATKit
import QATRegistry

/// Registers the AWQ calibration algorithms of Lin et al., *AWQ: Activation-aware Weight
/// Quantization for On-Device LLM Compression and Acceleration* (MLSys 2024), under ModelOpt's
/// names:
///
/// - `awq_lite`: per input channel, scales `s = mean|x|^α / mean(|w|/max|w|)^(1-α)` (normalized)
///   for α on a grid, each tried on the calibration data; the one with the smallest output error
///   of the quantized layer wins (``AWQLite``);
/// - `awq_clip`: per weight range group, the clipping ratio of the calibrated range that
///   minimizes the group's output error (``AWQClip``);
/// - `awq_full`: `awq_lite`, then `awq_clip` (``AWQFull``).
///
/// Use with weight quantizers of the built-in `static` algorithm, typically INT4 in blocks of
/// 128: `{"quantCfg": [...], "algorithm": {"method": "awq_lite", "alphaStep": 0.1}}`. The scale
/// multiplies the weight's input columns and divides the layer's input: folded into the layer
/// before where the model declares it possible (``ScaleFold``), else kept as the input
/// quantizer's `pre_quant_scale` (the weights of a checkpoint and its quantizer state hold
/// everything: restoring does not run AWQ again).
public enum AWQPlugin: QATPlugin {
  /// `"AWQ"`.
  public static let name = "AWQ"
  /// What it brings.
  public static let summary = "AWQ (Lin et al. 2024): activation-aware weight scales (awq_lite), clip search (awq_clip), both (awq_full)"

  /// Registers `awq_lite`, `awq_clip` and `awq_full`.
  public static func register(in registry: inout Registry) throws {
    try registry.register(
      algorithm: "awq_lite", summary: "AWQ (Lin et al. 2024): per-channel weight scales searched on activations, folded or pre_quant_scale"
    ) { try AWQLite(options: JSONValue.decodeOptions($0, as: AWQLite.Options.self, context: "awq_lite options")) }
    try registry.register(
      algorithm: "awq_clip", summary: "AWQ clip search (Lin et al. 2024): per-group range shrink minimizing output error"
    ) { try AWQClip(options: JSONValue.decodeOptions($0, as: AWQClip.Options.self, context: "awq_clip options")) }
    try registry.register(
      algorithm: "awq_full", summary: "AWQ (Lin et al. 2024): awq_lite scales, then awq_clip ranges"
    ) { try AWQFull(options: JSONValue.decodeOptions($0, as: AWQFull.Options.self, context: "awq_full options")) }
  }
}
