import QATKit

/// The quantization recipes of the default job, matching the reference anchors.
struct Recipe {
  let name: String
  let title: String
  let config: QuantizeConfig

  /// W2 per-channel + A4 per-tensor, first layer's input at A8; or W3 + A4 everywhere.
  static func recipes(calibrator: String, algorithm: String = "static") -> [Recipe] {
    func act(_ bits: Int) -> QuantizerAttributes {
      var a = QuantizerAttributes.int(bits, calibrator: calibrator)
      a.algorithm = algorithm
      return a
    }
    let int8 = QuantizeConfig(preset: .int8)
    let w2a4 = QuantizeConfig.weightsAndActivations(weights: .int(2, axis: 0), activations: act(4))
      .adding("fc1.input_quantizer", act(8))
    let w3a4 = QuantizeConfig.weightsAndActivations(weights: .int(3, axis: 0), activations: act(4))
    return [
      Recipe(name: "int8", title: "INT8 (W8 per-channel, A8 per-tensor)", config: int8),
      Recipe(name: "w2a4", title: "W2 per-channel + A4 (first input A8)", config: w2a4),
      Recipe(name: "w3a4-all", title: "W3 per-channel + A4 on every input", config: w3a4),
    ]
  }
}
