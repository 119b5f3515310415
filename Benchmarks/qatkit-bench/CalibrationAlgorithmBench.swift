import QATKit
import QATPlugins
import QATRegistry
import QATTransformers

/// The calibration algorithms on one BERT layer of all-MiniLM-L6-v2's size (q/k/v/o 384, FFN
/// 1536, random weights), calibrated on 4 random batches `[8, 128, 384]` (4,096 tokens):
///
/// - `calib_{max,awq_lite,awq_full,gptq}_int4_b128_bert_layer`: INT4 block-128 weight-only
///   (`INT4_BLOCKWISE_WEIGHT_ONLY_CFG`), plain max calibration or the algorithm with its defaults;
/// - `calib_{max,smoothquant,smoothquant_search}_int8_noln_bert_layer`: W8A8 without the
///   LayerNorm quantizers, SmoothQuant with α 0.5 or α searched in {0.25, 0.5, 0.75, 1}.
///
/// Each timed call builds a fresh layer (the algorithms change the weights; building it is
/// negligible next to calibration) and runs `quantize` with the algorithm: the seconds of one
/// PTQ, the cost `qatkit-run minilm --algorithm` pays per layer and calibration pass.
enum CalibrationAlgorithmBench {
  static func items(scale: Double) -> [Item] {
    let int4: [(String, CalibrationAlgorithmSpec?)] = [
      ("max", nil), ("awq_lite", .init("awq_lite")), ("awq_full", .init("awq_full")), ("gptq", .init("gptq")),
    ]
    let int8: [(String, CalibrationAlgorithmSpec?)] = [
      ("max", nil), ("smoothquant", .init("smoothquant")),
      ("smoothquant_search", .init("smoothquant", options: .object(["alphas": .array([0.25, 0.5, 0.75, 1].map { .number($0) })]))),
    ]
    return int4.map { item($0.0, $0.1, recipe: .int4WeightOnly, suffix: "int4_b128", scale: scale) }
      + int8.map { item($0.0, $0.1, recipe: .int8NoLayerNorm, suffix: "int8_noln", scale: scale) }
  }

  static func item(_ name: String, _ algorithm: CalibrationAlgorithmSpec?, recipe: BertQuantization.Recipe, suffix: String, scale: Double) -> Item {
    let key = "calib_\(name)_\(suffix)_bert_layer"
    let work = "quantize (\(recipe.rawValue), algorithm \(algorithm?.method ?? "max")) of one MiniLM-sized BERT layer, 4 calibration batches [8,128,384]"
    return Item(key: key) {
      var rng = RandomGenerator(seed: 5)
      let batches = (0..<4).map { _ in Tensor.randn([8, 128, 384], using: &rng) }
      let config = BertQuantization.config(recipe).with(algorithm: algorithm)
      var failure: (any Error)?
      let t = Timing.measure(runs: 3, warmup: 1, scale: scale) {
        let layer = BertLayer(config: BertBench.config(), initialization: .random(seed: 1))
        do {
          try convert(layer, modes: [.quantize(config)], registry: InTreePlugins.registry, forwardLoop: { m in for b in batches { _ = m(b) } })
        } catch { failure = error }
      }
      if let failure { return [.failed(key, unit: "s", higherIsBetter: false, work: work, error: "\(failure)")] }
      return [BenchResult(key, t, unit: "s", value: t.median, higherIsBetter: false, work: work)]
    }
  }
}
