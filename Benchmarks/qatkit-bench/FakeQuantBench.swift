import QATKit

/// Fake-quantization throughput on a 4096×4096 float32 tensor, the counterparts of the
/// reference's ModelOpt `TensorQuantizer` items.
///
/// GB/s = 2 · 64 MiB / time (read x, write out), the reference's accounting. The `_ste`
/// variants also write the clipped-STE mask (one byte per element, 16 MiB more, not counted),
/// which is what a training forward does. Calibrated amax is passed in (as the reference does).
///
/// Each kernel call alternates with two 64 MiB copies of the same input into another buffer, on the
/// same threads: `memcpy` (``MemoryBench/copy(_:_:bytes:)``) and a copy with non-temporal stores
/// (``MemoryBench/streamCopy(_:_:bytes:)``), and every call starts with cold caches
/// (``MemoryBench/evictCaches()``). `fraction_of_memory_copy` and `fraction_of_streaming_copy`
/// are ratios of medians measured under the same conditions (see Benchmarks/README.md,
/// "Streaming figures").
enum FakeQuantBench {
  static let rows = 4096, cols = 4096

  final class Inputs: @unchecked Sendable {
    var x: [Float]
    var out: [Float]
    /// Destination of the interleaved copy probe.
    var copy: [Float]
    var mask: [UInt8]
    var amaxRows: [Float]
    var amaxTensor: Float

    init() {
      var rng = RandomGenerator(seed: 0)
      x = (0..<(FakeQuantBench.rows * FakeQuantBench.cols)).map { _ in rng.nextNormal() }
      out = [Float](repeating: 0, count: x.count)
      copy = [Float](repeating: 0, count: x.count)
      mask = [UInt8](repeating: 0, count: x.count)
      amaxRows = [Float](repeating: 0, count: FakeQuantBench.rows)
      amaxTensor = 0
      x.withUnsafeBufferPointer { p in
        for r in 0..<FakeQuantBench.rows {
          amaxRows[r] = Amax.maxAbs(UnsafeBufferPointer(rebasing: p[(r * FakeQuantBench.cols)..<((r + 1) * FakeQuantBench.cols)]))
        }
      }
      amaxTensor = amaxRows.max() ?? 0
    }
  }

  nonisolated(unsafe) static var shared: Inputs?
  static func inputs() -> Inputs {
    if let s = shared { return s }
    let s = Inputs()
    shared = s
    return s
  }

  enum Kind {
    case int(bits: Int, ste: Bool)
    case fp8(ste: Bool)
    case nvfp4
    case mxfp4

    /// Runs this kernel on `x` (`rows × cols`) into `out` (and `mask` for the STE variants):
    /// integer formats with per-row ranges `amaxRows`, the others with the tensor's `amaxTensor`.
    func run(
      _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int, amaxRows: UnsafeBufferPointer<Float>,
      amaxTensor: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>,
      mask: UnsafeMutableBufferPointer<UInt8>
    ) throws {
      switch self {
      case .int(let bits, let ste):
        try IntFakeQuant.modelOpt(
          x, shape: [rows, cols], format: .int(bits: bits, signed: true, narrowRange: false),
          granularity: .perChannel(axis: 0), amax: amaxRows, into: out, steMask: ste ? mask : nil)
      case .fp8(let ste):
        try FP8.fakeQuantModelOpt(
          x, shape: [rows, cols], format: .fp8E4M3, granularity: .perTensor, amax: amaxTensor,
          into: out, steMask: ste ? mask : nil)
      case .nvfp4:
        try NVFP4.fakeQuant(x, shape: [rows, cols], globalAmax: amaxTensor[0], into: out)
      case .mxfp4:
        try MXFormat.mxfp4.fakeQuant(x, shape: [rows, cols], into: out)
      }
    }
  }

  static func items(scale: Double) -> [Item] {
    let cases: [(String, Kind, String)] = [
      ("fake_quant_int8_per_channel", .int(bits: 8, ste: false), "INT8 per-channel (axis 0, amax [4096]) ModelOpt semantics"),
      ("fake_quant_int8_per_channel_ste", .int(bits: 8, ste: true), "INT8 per-channel + clipped-STE mask"),
      ("fake_quant_int4_per_channel", .int(bits: 4, ste: false), "INT4 per-channel (axis 0) ModelOpt semantics"),
      ("fake_quant_int4_per_channel_ste", .int(bits: 4, ste: true), "INT4 per-channel + clipped-STE mask"),
      ("fake_quant_fp8_e4m3_per_tensor", .fp8(ste: false), "FP8 E4M3 per-tensor (scalar amax) ModelOpt semantics"),
      ("fake_quant_fp8_e4m3_per_tensor_ste", .fp8(ste: true), "FP8 E4M3 per-tensor + clipped-STE mask"),
      ("fake_quant_nvfp4", .nvfp4, "NVFP4 (E2M1, blocks of 16, E4M3 block scales, calibrated global amax)"),
      ("fake_quant_mxfp4", .mxfp4, "MXFP4 (E2M1, blocks of 32, E8M0 scales)"),
    ]
    return cases.map { key, kind, desc in
      Item(key: key) { [run(key, kind, desc, scale: scale)] }
    }
  }

  static func run(_ key: String, _ kind: Kind, _ desc: String, scale: Double) -> BenchResult {
    let d = inputs()
    let work = "\(desc); 4096x4096 float32, forward; GB/s = 2*64MiB/time"
    var failure: String?
    let t = d.x.withUnsafeBufferPointer { x in
      d.amaxRows.withUnsafeBufferPointer { amaxRows in
        withUnsafePointer(to: d.amaxTensor) { amaxT in
          d.out.withUnsafeMutableBufferPointer { out in
            d.mask.withUnsafeMutableBufferPointer { mask in
              d.copy.withUnsafeMutableBytes { copyDst in
                let amaxTensor = UnsafeBufferPointer(start: amaxT, count: 1)
                func kernel() {
                  do {
                    try kind.run(x, rows: rows, cols: cols, amaxRows: amaxRows, amaxTensor: amaxTensor, into: out, mask: mask)
                  } catch {
                    failure = "\(error)"
                  }
                }
                let src = UnsafeRawPointer(x.baseAddress!), dst = copyDst.baseAddress!, bytes = x.count * 4
                return Timing.measureInterleaved(count: 3, runs: 15, warmup: 3, scale: scale, prepare: MemoryBench.evictCaches) {
                  switch $0 {
                  case 0: MemoryBench.copy(src, dst, bytes: bytes)
                  case 1: MemoryBench.streamCopy(src, dst, bytes: bytes)
                  default: kernel()
                  }
                }
              }
            }
          }
        }
      }
    }
    if let failure {
      return .failed(key, unit: "GB/s", higherIsBetter: true, work: work, error: failure)
    }
    Sink.consume(d.out[12345] + d.copy[54321])
    let bytes = 2.0 * Double(rows * cols * 4)
    let (memcpyT, streamT, kernelT) = (t[0], t[1], t[2])
    var r = BenchResult(key, kernelT, unit: "GB/s", value: bytes / kernelT.median / 1e9, higherIsBetter: true, work: work)
    r.extra["copy_gb_per_s"] = bytes / memcpyT.median / 1e9
    r.extra["fraction_of_memory_copy"] = memcpyT.median / kernelT.median
    r.extra["streaming_copy_gb_per_s"] = bytes / streamT.median / 1e9
    r.extra["fraction_of_streaming_copy"] = streamT.median / kernelT.median
    return r
  }
}

/// Train steps and epochs of the quantized MLP, for the reference's two configs:
///
/// - `int8`: `QuantizeConfig(preset: .int8)` (ModelOpt's `INT8_DEFAULT_CFG`: W8 per-channel, A8
///   per-tensor);
/// - `w2a4`: W2 per-channel weights + A4 per-tensor inputs, the first layer's input at A8 (the
///   reference's `w2a4_first_a8_cfg`).
///
/// Each is max-calibrated on the train rows, then trained with forward (fake quant) +
/// cross-entropy + backward (STE) + Adam(1e-4). `epoch_qat_kd_w2a4_b64` adds the anchor's
/// distillation: FP32 teacher, logits KL (T = 1), static balancer with KD weight 0.5.
enum QuantizedTrainingBench {
  static let configs: [(name: String, title: String, config: QuantizeConfig)] = [
    ("int8", "QAT INT8 (W8 per-channel, A8 per-tensor)", QuantizeConfig(preset: .int8)),
    ("w2a4", "QAT W2A4 (W2 per-channel, A4 per-tensor, fc1 input A8)",
     QuantizeConfig.weightsAndActivations(weights: .int(2, axis: 0), activations: .int(4))
       .adding("fc1.input_quantizer", .int(8))),
  ]

  static func quantizedModel(_ train: Dataset, _ config: QuantizeConfig) throws -> MLP {
    let model = MLP(TrainingBench.sizes)
    let context = ModeContext(forwardLoop: { m in
      Tensor.withoutGrad { for b in TrainingBench.batches64(train) { _ = m(b.inputs) } }
    })
    _ = try QuantizeMode.convert(model, config: config, context: context)
    return model
  }

  static func step(_ model: Module, _ opt: Adam, _ x: Tensor, _ y: [Int]) {
    opt.zeroGrad()
    let loss = Loss.crossEntropy(model(x), y)
    loss.backward()
    opt.step()
    Sink.consume(loss.item)
  }

  static func items(train: Dataset, scale: Double) -> [Item] {
    var items: [Item] = []
    for (name, title, config) in configs {
      for batch in [64, 1024] {
        let key = "mlp_train_step_\(name)_b\(batch)"
        let work = "\(title): forward + cross-entropy + backward + Adam step, batch \(batch)"
        items.append(Item(key: key) {
          do {
            let model = try quantizedModel(train, config)
            model.train()
            let opt = Adam(model.trainableParameters(), learningRate: 1e-4)
            let b = train.batch(0..<batch)
            let t = Timing.measure(runs: batch == 64 ? 51 : 31, warmup: 5, scale: scale) {
              step(model, opt, b.inputs, b.labels)
            }
            return [BenchResult(key, t, unit: "ms", value: t.median * 1e3, higherIsBetter: false, work: work)]
          } catch {
            return [.failed(key, unit: "ms", higherIsBetter: false, work: work, error: "\(error)")]
          }
        })
      }
      let key = "epoch_qat_\(name)_b64"
      let work = "\(title): one epoch over the 1437 train rows, batch 64, seeded shuffle, Adam(1e-4)"
      items.append(Item(key: key) {
        do {
          let model = try quantizedModel(train, config)
          let opt = Adam(model.trainableParameters(), learningRate: 1e-4)
          var e: UInt64 = 0
          let t = Timing.measure(runs: 5, warmup: 1, scale: scale) {
            model.train()
            for b in TrainingBench.batches64(train, seed: 1 &+ e) { step(model, opt, b.inputs, b.labels) }
            e &+= 1
          }
          return [BenchResult(key, t, unit: "s", value: t.median, higherIsBetter: false, work: work)]
        } catch {
          return [.failed(key, unit: "s", higherIsBetter: false, work: work, error: "\(error)")]
        }
      })
    }
    let kdKey = "epoch_qat_kd_w2a4_b64"
    let kdWork = "QAT W2A4 + KD (FP32 teacher, logits KL T=1, static balancer 0.5): one epoch, batch 64, Adam(1e-4)"
    items.append(Item(key: kdKey) {
      do {
        let student = try quantizedModel(train, configs[1].config)
        let teacher = MLP(TrainingBench.sizes, seed: 7)
        let kd = try KDConfig(
          teacher: teacher, criterion: LogitsKLCriterion(temperature: 1), balancer: StaticBalancer(kdWeight: 0.5))
        let model = try DistillationModel(student: student, config: kd)
        let opt = Adam(model.trainableParameters(), learningRate: 1e-4)
        var e: UInt64 = 0
        var failure: (any Error)?
        let t = Timing.measure(runs: 5, warmup: 1, scale: scale) {
          model.train()
          for b in TrainingBench.batches64(train, seed: 1 &+ e) {
            opt.zeroGrad()
            do {
              let loss = try model.computeKDLoss(studentLoss: Loss.crossEntropy(model(b.inputs), b.labels))
              loss.backward()
              Sink.consume(loss.item)
            } catch {
              failure = error
            }
            opt.step()
          }
          e &+= 1
        }
        if let failure { throw failure }
        return [BenchResult(kdKey, t, unit: "s", value: t.median, higherIsBetter: false, work: kdWork)]
      } catch {
        return [.failed(kdKey, unit: "s", higherIsBetter: false, work: kdWork, error: "\(error)")]
      }
    })
    return items
  }
}
