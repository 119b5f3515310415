import QATKit

/// A quantization algorithm of ModelOpt's unified Hugging Face checkpoint (`quant_algo` in
/// `hf_quant_config.json`), with the tensors each layer stores.
///
/// | algorithm | `weight` | `weight_scale` | other |
/// |---|---|---|---|
/// | `W8A16` | `I8 [out, in…]` | `F32 [out]` | |
/// | `W8A8_SQ_PER_CHANNEL` | `I8 [out, in…]` | `F32 [out]` | `input_scale F32 []`, optional `pre_quant_scale F32 [in]` |
/// | `W4A16_AWQ` | `U8 [out/2, in]` (two INT4 along the output dimension) | `F32 [out, in/group]` | `pre_quant_scale F32 [in]` |
/// | `W4A8_AWQ` (import only) | as `W4A16_AWQ` | as `W4A16_AWQ` | `weight_scale_2 F32 []` (FP8 stage), `input_scale`, `pre_quant_scale` |
/// | `FP8` | `F8_E4M3 [out, in…]` | `F32 []` | `input_scale F32 []` |
/// | `NVFP4` / `W4A16_NVFP4` | `U8 [out, in/2]` (two E2M1 along the input dimension) | `F8_E4M3 [out, in/16]` | `weight_scale_2 F32 []`; NVFP4: `input_scale F32 []` |
/// | `mxfp4` | `U8 [out, in/2]` | `U8 [out, in/32]` (E8M0) | |
public enum UnifiedAlgorithm: String, CaseIterable, Sendable {
  /// INT8 per-channel weights, activations in full precision.
  case w8a16 = "W8A16"
  /// INT8 per-channel weights and INT8 per-tensor activations (SmoothQuant when `pre_quant_scale` is present).
  case w8a8 = "W8A8_SQ_PER_CHANNEL"
  /// INT4 weights in groups along the input dimension, activations in full precision.
  case w4a16AWQ = "W4A16_AWQ"
  /// INT4 group weights with a second FP8 stage, FP8 activations (ModelOpt's W4A8 AWQ; import only).
  case w4a8AWQ = "W4A8_AWQ"
  /// FP8 E4M3 per-tensor weights and activations.
  case fp8 = "FP8"
  /// NVFP4 weights and activations.
  case nvfp4 = "NVFP4"
  /// NVFP4 weights, activations in full precision.
  case w4a16NVFP4 = "W4A16_NVFP4"
  /// MXFP4 weights (ModelOpt 0.47 spells it in lower case).
  case mxfp4 = "mxfp4"

  /// The format of the activations (`input_scale`), or `nil` for weight-only algorithms.
  public var inputFormat: QuantFormat? {
    switch self {
    case .w8a8: .int8
    case .fp8, .w4a8AWQ: .e4m3
    case .nvfp4: .nvfp4
    case .w8a16, .w4a16AWQ, .w4a16NVFP4, .mxfp4: nil
    }
  }

  /// Whether `hf_quant_config.json` records a `group_size` for it.
  public var hasGroupSize: Bool {
    switch self {
    case .w4a16AWQ, .w4a8AWQ, .nvfp4, .w4a16NVFP4: true
    default: false
    }
  }

  /// Whether the algorithm is AWQ-shaped (`has_zero_point`, `pre_quant_scale` keys, INT4 packing).
  public var isAWQ: Bool { self == .w4a16AWQ || self == .w4a8AWQ }

  /// Whether QATKit can write it (W4A8 AWQ needs ModelOpt's two-stage INT4 → FP8 weight quantizer).
  public var isWritable: Bool { self != .w4a8AWQ }

  /// The compressed-tensors style group that ModelOpt mirrors into `config.json` (without `targets`).
  func configGroup(groupSize: Int?) -> [String: JSONValue] {
    func spec(_ bits: Int, _ type: String, group: Int? = nil, strategy: String? = nil) -> JSONValue {
      var o: [String: JSONValue] = ["dynamic": .bool(false), "num_bits": .number(Double(bits)), "type": .string(type)]
      if let group { o["group_size"] = .number(Double(group)) }
      if let strategy { o["strategy"] = .string(strategy) }
      return .object(o)
    }
    switch self {
    case .fp8: return ["input_activations": spec(8, "float"), "weights": spec(8, "float")]
    case .nvfp4:
      let g = groupSize ?? 16
      return ["input_activations": spec(4, "float", group: g), "weights": spec(4, "float", group: g)]
    case .w4a16NVFP4: return ["weights": spec(4, "float", group: groupSize ?? 16)]
    case .w4a16AWQ: return ["weights": spec(4, "int", group: groupSize ?? 128)]
    case .w4a8AWQ:
      let g = groupSize ?? 128
      return ["input_activations": spec(8, "float", group: g), "weights": spec(4, "float", group: g)]
    case .w8a16: return ["weights": spec(8, "int")]
    case .w8a8: return ["input_activations": spec(8, "int"), "weights": spec(8, "int", strategy: "channel")]
    case .mxfp4: return ["quant_algo": .string(rawValue)]
    }
  }
}
