import QATKit

/// MLP train steps and epochs on digits, as `torch_reference.py` times them.
///
/// Model: MLP 64→256→256→10 with ReLU; step = zero grads, forward, cross-entropy, backward,
/// Adam step (lr 1e-4, as the reference's QAT learning rate) on the first `batch` train rows.
enum TrainingBench {
  static let sizes = [64, 256, 256, 10]

  static func step(_ model: MLP, _ opt: Adam, _ x: Tensor, _ y: [Int]) -> Float {
    opt.zeroGrad()
    let loss = Loss.crossEntropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item
  }

  static func trainStep(batch: Int, train: Dataset, scale: Double) -> BenchResult {
    let model = MLP(sizes)
    model.train()
    let opt = Adam(model.trainableParameters(), learningRate: 1e-4)
    let b = train.batch(0..<batch)
    let t = Timing.measure(runs: batch == 64 ? 51 : 31, warmup: 5, scale: scale) {
      Sink.consume(step(model, opt, b.inputs, b.labels))
    }
    return BenchResult(
      "mlp_train_step_fp32_b\(batch)", t, unit: "ms", value: t.median * 1e3, higherIsBetter: false,
      work: "FP32: forward + cross-entropy + backward + Adam step, batch \(batch) (first \(batch) train rows)")
  }

  /// Shuffled batches of 64 rows (a positive constant size: `batches` cannot throw).
  static func batches64(_ data: Dataset, seed: UInt64? = nil) -> [(inputs: Tensor, labels: [Int])] {
    try! data.batches(size: 64, seed: seed)
  }

  static func epoch(train: Dataset, scale: Double) -> BenchResult {
    let model = MLP(sizes)
    let opt = Adam(model.trainableParameters(), learningRate: 1e-4)
    var e: UInt64 = 0
    let t = Timing.measure(runs: 5, warmup: 1, scale: scale) {
      model.train()
      for b in batches64(train, seed: 1 &+ e) { Sink.consume(step(model, opt, b.inputs, b.labels)) }
      e &+= 1
    }
    return BenchResult(
      "epoch_fp32_b64", t, unit: "s", value: t.median, higherIsBetter: false,
      work: "FP32: one epoch over the 1437 train rows, batch 64 (23 steps), seeded shuffle, Adam(1e-4)")
  }

  /// The anchor's FP32 training (30 epochs, batch 64, Adam 1e-3), timed once; returns the
  /// result and the test accuracy.
  static func fullTraining(train: Dataset, test: Dataset) -> (BenchResult, Float) {
    let model = MLP(sizes)
    let opt = Adam(model.trainableParameters(), learningRate: 1e-3)
    let c0 = Clock.cpu(), t0 = Clock.wall()
    // The bundled digits fit the MLP: the checks in fit and accuracy cannot fail here.
    try! Training.fit(model, data: train, epochs: 30, batchSize: 64, optimizer: opt) { x, y in
      Loss.crossEntropy(model(x), y)
    }
    let dt = Clock.wall() - t0
    let timing = Timing(median: dt, min: dt, max: dt, runs: 1, warmup: 0, cpuUtil: (Clock.cpu() - c0) / dt)
    let r = BenchResult(
      "fp32_train_30_epochs", timing, unit: "s", value: dt, higherIsBetter: false,
      work: "setup: FP32 training as in the anchor, 30 epochs x 23 steps, batch 64, Adam 1e-3 (one run)")
    return (r, try! Training.accuracy(model, on: test))
  }
}
