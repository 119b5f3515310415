import Foundation
import QATKit
import QATPlugins
import QATRegistry

/// `qatkit-run ptq`: post-training quantization accuracy on digits for every preset, the
/// reference grid and the aggressive recipes, with each calibrator, on the FP32 weights
/// PyTorch trained (bundled, so the max-calibration column compares one to one with ModelOpt)
/// and on an FP32 model trained here.
///
/// In an MPI job the training, the calibration and the evaluation run data-parallel over `world`
/// (each rank on its shard of every batch; calibration statistics and gradients combined
/// across ranks), and rank 0 prints the tables.
struct PTQReport {
  let registry = ToolRegistry.registry
  var world: any Communicator = DistributedSession.world

  /// A row: name, config, ModelOpt's accuracy with max calibration (nil if not measured).
  typealias Row = (name: String, config: QuantizeConfig, reference: Float?)

  static func rows() -> [Row] {
    func wa(_ w: Int?, _ a: Int?, firstA8: Bool = false) -> QuantizeConfig {
      var c = QuantizeConfig.weightsAndActivations(weights: w.map { .int($0, axis: 0) }, activations: a.map { .int($0) })
      if firstA8 { c = c.adding("fc1.input_quantizer", .int(8)) }
      return c
    }
    var rows: [Row] = QuantizePreset.allCases.map { preset in
      var c = QuantizeConfig(preset: preset)
      var name = preset.name
      if preset == .int4WeightOnly {
        // fc1 has 64 inputs: blocks of 128 do not divide it, so it uses blocks of 64.
        c = c.adding("fc1.weight_quantizer", .int(4, blockSize: 64))
        name += " (fc1 g64)"
      }
      return (name, c, preset == .int8 ? 0.9722 : nil)
    }
    rows += [
      ("W4A32", wa(4, nil), 0.972), ("W3A32", wa(3, nil), 0.972), ("W2A32", wa(2, nil), 0.894),
      ("W32A4", wa(nil, 4), 0.206), ("W4A8", wa(4, 8), 0.972), ("W4A4", wa(4, 4), 0.208), ("W2A8", wa(2, 8), 0.892),
      ("W4A4, fc1 in A8", wa(4, 4, firstA8: true), 0.969), ("W3A4, fc1 in A8", wa(3, 4, firstA8: true), 0.967),
      ("W2A4, fc1 in A8", wa(2, 4, firstA8: true), 0.900), ("W32A3, fc1 in A8", wa(nil, 3, firstA8: true), 0.850),
      ("W4A3, fc1 in A8", wa(4, 3, firstA8: true), 0.847), ("W3A4 everywhere", wa(3, 4), 0.2028),
    ]
    return rows
  }

  /// The config with `calibrator` on activations (and MSE on integer weights for mse/entropy).
  static func calibrated(_ config: QuantizeConfig, _ calibrator: String) -> QuantizeConfig {
    var c = config
    for i in c.quantCfg.indices {
      guard var cfg = c.quantCfg[i].cfg, cfg.needsCalibration, !cfg.format.isBlockScaled else { continue }
      let isWeight = c.quantCfg[i].quantizerName.text.contains("weight")
      switch (calibrator, isWeight) {
      case ("max", _): continue
      case ("percentile", true): continue
      case (_, true): cfg.calibrator = "mse"
      default: cfg.calibrator = calibrator
      }
      c.quantCfg[i].cfg = cfg
    }
    return c
  }

  func run() throws {
    let (train, test) = try Digits.load()
    guard let url = Bundle.module.url(forResource: "mlp_digits_fp32", withExtension: "safetensors") else {
      throw DataError.resource("mlp_digits_fp32.safetensors is missing from the qatkit-run bundle")
    }
    let trained = MLP([64, 256, 256, 10])
    try Training.fit(
      trained, data: train, epochs: 30, batchSize: 64, optimizer: Adam(trained.parameters(), learningRate: 1e-3), communicator: world
    ) {
      Loss.crossEntropy(trained($0), $1)
    }
    let calibration = train.shardedBatches(size: 256, communicator: world)
    let calibrators = ["max", "percentile", "mse", "entropy"]
    for (label, load) in [("PyTorch's FP32 weights (bundled)", { () throws -> MLP in
      let m = MLP([64, 256, 256, 10]); try m.loadSafeTensors(from: url); return m
    }), ("FP32 trained by qatkit-run", { () throws -> MLP in
      let m = MLP([64, 256, 256, 10]); try m.loadStateDict(Dictionary(uniqueKeysWithValues: trained.stateDict())); return m
    })] {
      let fp = try load()
      let fp32Accuracy = try Stages.accuracy(fp, on: test, world: world)
      print("\nPTQ on \(label): FP32 test accuracy \(pct(fp32Accuracy))")
      var table = Table(header: ["config"] + calibrators + ["ModelOpt (max)"])
      for row in Self.rows() {
        var cells = [row.name]
        for cal in calibrators {
          let m = try load()
          try convert(
            m, modes: [.quantize(Self.calibrated(row.config, cal))], registry: registry,
            forwardLoop: { m in for b in calibration { _ = m(b.inputs) } }, communicator: world)
          cells.append(pct(try Stages.accuracy(m, on: test, world: world)))
        }
        cells.append(row.reference.map(pct) ?? "-")
        table.add(cells)
      }
      print(table.render())
    }
    print("\ncalibrators: max = absolute maximum; percentile = 99.99th percentile of |x| on activations;")
    print("mse = amax minimizing fake-quant MSE (weights and activations); entropy = KL over histograms on activations, mse on weights")
  }
}
