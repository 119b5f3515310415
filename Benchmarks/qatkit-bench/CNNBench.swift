import QATKit

/// The reference's CIFAR-shaped CNN: `conv(3→32, 3×3, pad 1) → ReLU → max-pool 2 →
/// conv(32→64) → ReLU → max-pool 2 → flatten → fc(4096→10)`, as `torch_reference.py`'s `CNN`.
/// ReLU + max-pool run as the fused `reluMaxPool2d` (the same values and gradients as
/// `relu().maxPool2d(kernel: 2)`, tested in ConvKernelTests).
final class BenchCNN: Module {
  @Child var conv1: Conv2d
  @Child var conv2: Conv2d
  @Child var fc: Linear

  init(seed: UInt64 = 0) {
    conv1 = Conv2d(3, 32, kernel: 3, padding: 1, seed: seed)
    conv2 = Conv2d(32, 64, kernel: 3, padding: 1, seed: seed &+ 1)
    fc = Linear(64 * 8 * 8, 10, seed: seed &+ 2)
  }

  override func forward(_ x: Tensor) -> Tensor {
    let h1 = conv1(x).reluMaxPool2d(kernel: 2)
    let h2 = conv2(h1).reluMaxPool2d(kernel: 2)
    return fc(h2.flattened(from: 1))
  }
}

/// `cnn_train_step_{fp32,int8}_b64`: zero grads, forward, cross-entropy, backward, Adam(1e-4) on a
/// synthetic `[64, 3, 32, 32]` standard-normal batch with labels `i % 10`; INT8 is
/// `QuantizeConfig(preset: .int8)` (ModelOpt's `INT8_DEFAULT_CFG`) max-calibrated on 4 other
/// synthetic batches, as the reference does.
enum CNNBench {
  /// FLOP of one step: forward convolutions and fc, backward weight gradients of all three, the
  /// input gradient of conv2 and fc (conv1's input needs none). 2·M·N·K per GEMM.
  static var stepFlop: Double {
    let conv1 = 2.0 * 64 * 1024 * 32 * 27, conv2 = 2.0 * 64 * 256 * 64 * 288, fc = 2.0 * 64 * 4096 * 10
    return conv1 * 2 + conv2 * 3 + fc * 3
  }

  static func items(scale: Double, gemmRate: @escaping () -> Double?) -> [Item] {
    ["fp32", "int8"].map { name in
      let key = "cnn_train_step_\(name)_b64"
      let work = (name == "fp32" ? "FP32" : "QAT INT8 (W8 per-channel, A8 per-tensor)")
        + ": CNN conv(3->32)-ReLU-pool-conv(32->64)-ReLU-pool-fc(4096->10) on [64,3,32,32] synthetic input, CE, backward, Adam(1e-4)"
      return Item(key: key) {
        do {
          var rng = RandomGenerator(seed: 7)
          let x = Tensor.randn([64, 3, 32, 32], using: &rng)
          let labels = (0..<64).map { $0 % 10 }
          let model = BenchCNN()
          if name == "int8" {
            let calib = (0..<4).map { _ in Tensor.randn([64, 3, 32, 32], using: &rng) }
            let context = ModeContext(forwardLoop: { m in Tensor.withoutGrad { for c in calib { _ = m(c) } } })
            _ = try QuantizeMode.convert(model, config: QuantizeConfig(preset: .int8), context: context)
          }
          model.train()
          let opt = Adam(model.trainableParameters(), learningRate: 1e-4)
          let t = Timing.measure(runs: 21, warmup: 3, scale: scale) {
            opt.zeroGrad()
            let loss = Loss.crossEntropy(model(x), labels)
            loss.backward()
            opt.step()
            Sink.consume(loss.item)
          }
          var r = BenchResult(key, t, unit: "ms", value: t.median * 1e3, higherIsBetter: false, work: work)
          let gflops = stepFlop / t.median / 1e9
          r.extra["gflop_per_s"] = gflops
          if let sgemm = gemmRate() { r.extra["fraction_of_sgemm"] = gflops / sgemm }
          return [r]
        } catch {
          return [.failed(key, unit: "ms", higherIsBetter: false, work: work, error: "\(error)")]
        }
      }
    }
  }
}

/// The CNN step's convolutions one by one (`cnn_op_*`, GFLOP/s): forward of conv1 and conv2, the
/// input gradient of conv2, the weight gradients of both, and max pooling. Diagnostics for
/// Benchmarks/README.md (fraction of the SGEMM rate per kernel); the reference has no such items.
enum ConvOpBench {
  static func items(scale: Double) -> [Item] {
    let convs: [(String, ConvGeometry)] = [
      ("conv1", ConvGeometry(input: [64, 3, 32, 32], weight: [32, 3, 3, 3], stride: 1, padding: 1)),
      ("conv2", ConvGeometry(input: [64, 32, 16, 16], weight: [64, 32, 3, 3], stride: 1, padding: 1)),
    ]
    var items: [Item] = []
    for (name, g) in convs {
      for op in ["forward", "input_grad", "weight_grad"] where !(name == "conv1" && op == "input_grad") {
        let key = "cnn_op_\(name)_\(op)"
        items.append(Item(key: key) {
          var rng = RandomGenerator(seed: 3)
          let x = (0..<g.inputShape.reduce(1, *)).map { _ in rng.nextNormal() }
          let w = (0..<g.weightShape.reduce(1, *)).map { _ in rng.nextNormal() }
          let b = (0..<g.outChannels).map { _ in rng.nextNormal() }
          let dy = (0..<g.outputShape.reduce(1, *)).map { _ in rng.nextNormal() }
          var out = [Float](repeating: 0, count: Swift.max(x.count, dy.count, w.count))
          let t = x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
              b.withUnsafeBufferPointer { pb in
                dy.withUnsafeBufferPointer { pd in
                  out.withUnsafeMutableBufferPointer { po in
                    Timing.measure(runs: 31, warmup: 3, scale: scale) {
                      switch op {
                      case "forward":
                        ConvGEMM.forward(px.baseAddress!, weight: pw.baseAddress!, bias: pb.baseAddress!, po.baseAddress!, geometry: g)
                      case "input_grad":
                        ConvGEMM.inputGradient(pd.baseAddress!, weight: pw.baseAddress!, po.baseAddress!, geometry: g)
                      default:
                        ConvGEMM.weightGradient(pd.baseAddress!, input: px.baseAddress!, po.baseAddress!, geometry: g)
                      }
                    }
                  }
                }
              }
            }
          }
          Sink.consume(out[7])
          let flop = 2.0 * Double(g.batch * g.positions * g.outChannels * g.patch)
          return [BenchResult(
            key, t, unit: "GFLOP/s", value: flop / t.median / 1e9, higherIsBetter: true,
            work: "ConvGEMM \(op) of \(name) (\(g.inputShape) * \(g.weightShape), pad 1), 2*N*L*O*C*k*k flop")]
        })
      }
    }
    return items
  }
}
