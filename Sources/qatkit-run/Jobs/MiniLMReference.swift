import QATTransformers

/// ModelOpt's numbers on the same sets (`shared/reference/ANCHORS.md`, "ModelOpt PTQ and QAD on
/// the public sentence sets": torch 2.13 CPU, ModelOpt 0.47, max calibration on the first 256
/// corpus sentences, QAD with frozen ranges, Adam 2e-5, batch 32, 2 epochs).
enum MiniLMReference {
  /// Mean cosine, minimum cosine, nearest-neighbour agreement, and the QAD time in seconds.
  struct Row {
    let mean: Double, min: Double, nn: Double
    let seconds: Double?
  }

  /// ModelOpt's PTQ row of `recipe` calibrated with `algorithm` (`nil`: max calibration):
  /// `INT4_AWQ_CFG` for INT4 blocks with `awq_lite`, `INT8_SMOOTHQUANT_CFG` for INT8 with
  /// `smoothquant`; no row for other pairs.
  static func ptq(_ recipe: BertQuantization.Recipe, algorithm: String?) -> Row? {
    switch (recipe, algorithm) {
    case (_, nil), (_, "max"): ptq(recipe)
    case (.int4WeightOnly, "awq_lite"): Row(mean: 0.963, min: 0.919, nn: 0.800, seconds: nil)
    case (.int8, "smoothquant"): Row(mean: 0.715, min: 0.463, nn: 0.386, seconds: nil)
    default: nil
    }
  }

  static func ptq(_ recipe: BertQuantization.Recipe) -> Row? {
    switch recipe {
    case .int8: Row(mean: 0.711, min: 0.463, nn: 0.374, seconds: nil)
    case .int8NoLayerNorm: Row(mean: 0.982, min: 0.957, nn: 0.814, seconds: nil)
    case .int8WeightOnly: Row(mean: 0.9996, min: 0.9988, nn: 0.978, seconds: nil)
    case .int4WeightOnly: Row(mean: 0.942, min: 0.865, nn: 0.800, seconds: nil)
    case .fp8: Row(mean: 0.9959, min: 0.9907, nn: 0.922, seconds: nil)
    case .nvfp4, .mxfp4, .w4a8, .fp8NoLayerNorm, .nvfp4NoLayerNorm, .mxfp4NoLayerNorm, .w4a8NoLayerNorm: nil
    }
  }

  static func qadFrozen(_ recipe: BertQuantization.Recipe) -> Row? {
    switch recipe {
    case .int8: Row(mean: 0.828, min: 0.653, nn: 0.460, seconds: 382)
    case .int4WeightOnly: Row(mean: 0.979, min: 0.908, nn: 0.842, seconds: 306)
    default: nil
    }
  }
}
