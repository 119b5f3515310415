import Foundation
import QATKit
import QATPlugins
import QATRegistry
import QATTransformers

/// Inference of a quantized MiniLM *checkpoint* (`qatkit-bench --minilm-checkpoint FILE`, written
/// by `qatkit-run minilm`), the same file `Benchmarks/onnx-compare-minilm.sh` exports as Q/DQ
/// ONNX for onnxruntime. The architecture comes from the model directory's `config.json`
/// (`$QATKIT_MINILM_DIR` or where `scripts/fetch-minilm.sh` put it), every weight from the file.
///
/// `ckpt_minilm_forward_int8_b{1,32,256}_t128` runs it with ``Int8BertModel`` (encoder Linears on
/// integers), `ckpt_minilm_forward_fp32_b*_t128` runs the same weights without quantizers through
/// the plain forward (eval, no gradient): sentence embeddings of `[B, 128]` random ids (seed 11),
/// no padding, as on the onnxruntime side. The check records the INT8 model's agreement with the
/// fake-quantized checkpoint on the batch-32 input.
enum CheckpointBertInferenceBench {
  static let tokens = 128

  static func items(checkpoint: URL, scale: Double, checks: @escaping ([String: Double]) -> Void) -> [Item] {
    func load() throws -> (quantized: BertModel, fp32: BertModel) {
      guard let directory = MiniLM.locate() else { throw BenchInputError(MiniLM.missingHint) }
      let quantized = try BertModel.load(directory: directory)
      try restore(quantized, from: checkpoint, registry: InTreePlugins.registry)
      quantized.eval()
      let fp32 = try BertModel.load(directory: directory)
      try fp32.loadStateDict(Dictionary(quantized.stateDict(), uniquingKeysWith: { a, _ in a }), strict: false)
      fp32.eval()
      return (quantized, fp32)
    }
    func batch(_ n: Int, vocab: Int) -> Tensor {
      var rng = RandomGenerator(seed: 11)
      return TokenBatch((0..<n).map { _ in Encoding(ids: (0..<tokens).map { _ in 1 + Int(rng.next() % UInt64(vocab - 1)) }) }).packed
    }

    var items: [Item] = []
    for b in [1, 32, 256] {
      let (runs, warmup) = b == 1 ? (41, 5) : b == 32 ? (7, 2) : (3, 1)
      for kind in ["fp32", "int8"] {
        let key = "ckpt_minilm_forward_\(kind)_b\(b)_t\(tokens)"
        let work = kind == "fp32"
          ? "FP32 forward (eval, no gradient) of the MiniLM checkpoint's weights, sentence embeddings of [\(b),\(tokens)] ids"
          : "Int8BertModel (\(Int8InstructionSet.best)) of the quantized MiniLM checkpoint, sentence embeddings of [\(b),\(tokens)] ids"
        items.append(Item(key: key) {
          do {
            let (quantized, fp32) = try load()
            let x = batch(b, vocab: quantized.config.vocabSize)
            let t: Timing
            if kind == "fp32" {
              t = Timing.measure(runs: runs, warmup: warmup, scale: scale) {
                Sink.consume(Tensor.withoutGrad { fp32(x) }.scalars[0])
              }
            } else {
              let int8 = try Int8BertModel(quantized)
              _ = try int8(x)  // a valid batch: the timed calls cannot throw
              t = Timing.measure(runs: runs, warmup: warmup, scale: scale) { Sink.consume((try? int8(x))?.scalars[0] ?? .nan) }
              if b == 32 {
                let got = try int8(x)
                let reference = Tensor.withoutGrad { quantized(x) }
                let plain = Tensor.withoutGrad { fp32(x) }
                let vsFake = try EmbeddingComparison(got, reference: reference)
                let vsFP32 = try EmbeddingComparison(got, reference: plain)
                let fakeVsFP32 = try EmbeddingComparison(reference, reference: plain)
                checks([
                  "ckpt_minilm_int8_vs_fake_quant_min_cosine": Double(vsFake.minCosine),
                  "ckpt_minilm_int8_vs_fake_quant_max_abs_diff": Double(vsFake.maxAbsDifference),
                  "ckpt_minilm_int8_vs_fp32_mean_cosine": Double(vsFP32.meanCosine),
                  "ckpt_minilm_fake_quant_vs_fp32_mean_cosine": Double(fakeVsFP32.meanCosine),
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
