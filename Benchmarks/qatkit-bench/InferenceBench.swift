import QATKit

/// Inference of the digits MLP 64-256-256-10 at batch 1, 32 and 256: QATKit's FP32 forward
/// (`mlp_forward_fp32_b*`, eval mode, no gradient) and the same model quantized with the int8
/// preset (max calibration on the train rows) running on integers (`mlp_forward_int8_b*`,
/// ``Int8InferenceModel``: INT8 codes × INT8 weights → INT32, requantization fused into each
/// layer's epilogue), and with INT4 weights only (`mlp_forward_int4wo_b*`, blocks of 64,
/// ``Int4WeightOnlyModel``: weights dequantized inside the GEMM). Inputs are the first rows of the
/// digits test set.
enum InferenceBench {
  static func items(data: (train: Dataset, test: Dataset), scale: Double) -> [Item] {
    var items: [Item] = []
    for batch in [1, 32, 256] {
      let runs = batch == 256 ? 201 : 1001
      items.append(Item(key: "mlp_forward_fp32_b\(batch)") {
        let model = MLP([64, 256, 256, 10])
        model.eval()
        let x = data.test.prefix(batch).all.inputs
        let t = Timing.measure(runs: runs, warmup: 50, scale: scale) {
          Sink.consume(Tensor.withoutGrad { model(x) }.scalars[0])
        }
        return [BenchResult(
          "mlp_forward_fp32_b\(batch)", t, unit: "ms", value: t.median * 1e3, higherIsBetter: false,
          work: "FP32 forward (eval, no gradient) of the digits MLP 64-256-256-10, batch \(batch)")]
      })
      items.append(Item(key: "mlp_forward_int8_b\(batch)") {
        let key = "mlp_forward_int8_b\(batch)"
        let work = "INT8 integer inference (\(Int8InstructionSet.best)) of the int8-quantized digits MLP, batch \(batch)"
        do {
          let model = MLP([64, 256, 256, 10])
          let batches = try data.train.batches(size: 256)
          let context = ModeContext(forwardLoop: { m in Tensor.withoutGrad { for b in batches { _ = m(b.inputs) } } })
          _ = try QuantizeMode.convert(model, config: QuantizeConfig(preset: .int8), context: context)
          let int8 = try Int8InferenceModel(model)
          let x = data.test.prefix(batch).all.inputs
          let t = Timing.measure(runs: runs, warmup: 50, scale: scale) { Sink.consume(int8(x).scalars[0]) }
          return [BenchResult(key, t, unit: "ms", value: t.median * 1e3, higherIsBetter: false, work: work)]
        } catch {
          return [.failed(key, unit: "ms", higherIsBetter: false, work: work, error: "\(error)")]
        }
      })
      items.append(Item(key: "mlp_forward_int4wo_b\(batch)") {
        let key = "mlp_forward_int4wo_b\(batch)"
        let work = "INT4 weight-only (blocks of 64, \(Int8InstructionSet.best)) digits MLP, float activations, batch \(batch)"
        do {
          let model = MLP([64, 256, 256, 10])
          _ = try QuantizeMode.convert(
            model, config: .weightsAndActivations(weights: .int(4, blockSize: 64), activations: nil), context: ModeContext())
          let w4 = try Int4WeightOnlyModel(model)
          let x = data.test.prefix(batch).all.inputs
          let t = Timing.measure(runs: runs, warmup: 50, scale: scale) { Sink.consume(w4(x).scalars[0]) }
          return [BenchResult(key, t, unit: "ms", value: t.median * 1e3, higherIsBetter: false, work: work)]
        } catch {
          return [.failed(key, unit: "ms", higherIsBetter: false, work: work, error: "\(error)")]
        }
      })
    }
    return items
  }
}
