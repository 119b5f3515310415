extension ModelOptConfig {
  /// ModelOpt 0.47's preset configs in its JSON form (`mtq.<NAME>`), with the default
  /// disable rules that can apply to QATKit models (everything off first, `*lm_head*`,
  /// `*output_layer*`, `*router*`, BatchNorm / LeakyReLU / Embedding layers), or `nil`.
  static func modelOptPreset(_ name: String) -> JSONValue? {
    let weights: String
    var inputs: String? = nil
    var algorithm = "\"max\""
    switch name {
    case "INT8_DEFAULT_CFG":
      weights = #"{"num_bits": 8, "axis": 0}"#
      inputs = #"{"num_bits": 8, "axis": null}"#
    case "INT8_WEIGHT_ONLY_CFG":
      weights = #"{"num_bits": 8, "axis": 0}"#
    case "INT4_BLOCKWISE_WEIGHT_ONLY_CFG":
      weights = #"{"num_bits": 4, "block_sizes": {"-1": 128, "type": "static"}}"#
    case "FP8_DEFAULT_CFG":
      weights = #"{"num_bits": [4, 3], "axis": null}"#
      inputs = weights
    case "NVFP4_DEFAULT_CFG":
      weights = #"{"num_bits": [2, 1], "effective_bits": 4.5, "block_sizes": {"-1": 16, "type": "dynamic", "scale_bits": [4, 3]}}"#
      inputs = weights
    case "MXFP4_DEFAULT_CFG":
      weights = #"{"num_bits": [2, 1], "block_sizes": {"-1": 32, "type": "dynamic", "scale_bits": [8, 0]}}"#
      inputs = weights
      algorithm = "null"
    case "MXFP8_DEFAULT_CFG":
      weights = #"{"num_bits": [4, 3], "block_sizes": {"-1": 32, "type": "dynamic", "scale_bits": [8, 0]}}"#
      inputs = weights
      algorithm = "null"
    case "W4A8_AWQ_BETA_CFG":
      // Kept verbatim so decoding reports what QATKit lacks (a sequential weight quantizer,
      // the awq_lite algorithm).
      weights = #"[{"num_bits": 4, "block_sizes": {"-1": 128, "type": "static"}}, {"num_bits": [4, 3], "axis": null}]"#
      inputs = #"{"num_bits": [4, 3], "axis": null}"#
      algorithm = "\"awq_lite\""
    default:
      return nil
    }
    let inputRule = inputs.map { #"{"quantizer_name": "*input_quantizer", "cfg": \#($0)}"# }
      ?? #"{"quantizer_name": "*input_quantizer", "enable": false}"#
    let text = """
      {"quant_cfg": [
        {"quantizer_name": "*", "enable": false},
        {"quantizer_name": "*weight_quantizer", "cfg": \(weights)},
        \(inputRule),
        {"quantizer_name": "*lm_head*", "enable": false},
        {"quantizer_name": "*output_layer*", "enable": false},
        {"quantizer_name": "*router*", "enable": false},
        {"quantizer_name": "*", "parent_class": "nn.BatchNorm1d", "enable": false},
        {"quantizer_name": "*", "parent_class": "nn.BatchNorm2d", "enable": false},
        {"quantizer_name": "*", "parent_class": "nn.BatchNorm3d", "enable": false},
        {"quantizer_name": "*", "parent_class": "nn.LeakyReLU", "enable": false},
        {"quantizer_name": "*", "parent_class": "nn.Embedding", "enable": false}],
       "algorithm": \(algorithm)}
      """
    return try? JSONValue(parsing: text)
  }
}
