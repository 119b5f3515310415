import Foundation
import QATKit
import QATRegistry

/// Inference of a quantized MLP *checkpoint* (`qatkit-bench --mlp-checkpoint FILE`), the same
/// file `Benchmarks/onnx-compare.sh` exports as Q/DQ ONNX for onnxruntime:
/// `ckpt_mlp_forward_int8_b{1,32,256}` runs it on integers (``Int8InferenceModel``),
/// `ckpt_mlp_forward_fp32_b*` runs its FP32 weights (quantizers left out) through the plain
/// forward (eval, no gradient). Inputs are the first 1 / 32 / 256 digits test rows, as on the
/// onnxruntime side. The checks record both models' test accuracy and the INT8 model's agreement
/// with the fake-quantized checkpoint.
enum CheckpointInferenceBench {
  static func items(checkpoint: URL, test: Dataset, scale: Double, checks: @escaping ([String: Double]) -> Void) -> [Item] {
    /// The checkpoint restored onto an MLP whose sizes its weights give, and the same weights in
    /// an unquantized MLP.
    func load() throws -> (quantized: MLP, fp32: MLP) {
      let summary = try inspectCheckpoint(at: checkpoint)
      let shapes = Dictionary(summary.tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
      var sizes: [Int] = []
      var i = 1
      while let w = shapes["fc\(i).weight"], w.count == 2 {
        if sizes.isEmpty { sizes.append(w[1]) }
        sizes.append(w[0])
        i += 1
      }
      guard sizes.count >= 2 else {
        throw BenchInputError("\(checkpoint.path) holds no fc1.weight: --mlp-checkpoint takes a quantized MLP checkpoint")
      }
      let quantized = MLP(sizes)
      try restore(quantized, from: checkpoint)
      quantized.eval()
      let fp32 = MLP(sizes)
      try fp32.loadStateDict(Dictionary(quantized.stateDict(), uniquingKeysWith: { a, _ in a }), strict: false)
      fp32.eval()
      return (quantized, fp32)
    }

    var items: [Item] = []
    for batch in [1, 32, 256] {
      let runs = batch == 256 ? 401 : 2001
      let x = test.prefix(batch).all.inputs
      for kind in ["fp32", "int8"] {
        let key = "ckpt_mlp_forward_\(kind)_b\(batch)"
        let work = kind == "fp32"
          ? "FP32 forward (eval, no gradient) of the checkpoint's weights, batch \(batch)"
          : "INT8 integer inference (\(Int8InstructionSet.best)) of the quantized checkpoint, batch \(batch)"
        items.append(Item(key: key) {
          do {
            let (quantized, fp32) = try load()
            let t: Timing
            if kind == "fp32" {
              t = Timing.measure(runs: runs, warmup: 100, scale: scale) {
                Sink.consume(Tensor.withoutGrad { fp32(x) }.scalars[0])
              }
            } else {
              let int8 = try Int8InferenceModel(quantized)
              t = Timing.measure(runs: runs, warmup: 100, scale: scale) { Sink.consume(int8(x).scalars[0]) }
              if batch == 256 {
                let all = test.all
                let logits = int8(all.inputs)
                let reference = Tensor.withoutGrad { quantized(all.inputs) }
                let plain = Tensor.withoutGrad { fp32(all.inputs) }
                func accuracy(_ t: Tensor) -> Double {
                  let k = t.shape[1]
                  var hits = 0
                  for (r, label) in all.labels.enumerated() {
                    let row = t.scalars[(r * k)..<(r * k + k)]
                    if row.firstIndex(of: row.max()!)! - r * k == label { hits += 1 }
                  }
                  return Double(hits) / Double(all.labels.count)
                }
                let maxLogit = reference.scalars.map { Swift.abs($0) }.max() ?? 1
                let maxDiff = zip(logits.scalars, reference.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
                checks([
                  "ckpt_int8_test_acc": accuracy(logits), "ckpt_fake_quant_test_acc": accuracy(reference),
                  "ckpt_fp32_test_acc": accuracy(plain), "ckpt_int8_vs_fake_quant_max_logit_diff": Double(maxDiff), "ckpt_fake_quant_max_abs_logit": Double(maxLogit),
                ])
              }
            }
            return [BenchResult(key, t, unit: "ms", value: t.median * 1e3, higherIsBetter: false, work: work)]
          } catch {
            return [.failed(key, unit: "ms", higherIsBetter: false, work: work, error: "\(error)")]
          }
        })
      }
    }
    return items
  }
}

/// A bad benchmark argument (e.g. a checkpoint that is not an MLP).
struct BenchInputError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
