import QATKit
import QATTransformers

/// The transformer items of `torch_reference.py`, same shapes and work:
///
/// - `bert_layer_train_step_{fp32,int8}_b8_t128`: one post-norm BERT layer of all-MiniLM-L6-v2's
///   size (q/k/v/o 384, 12 heads, FFN 1536 with GELU (erf), LayerNorm eps 1e-12, no mask, no
///   dropout) on a fixed `[8, 128, 384]` N(0, 1) input; loss `mean(y²)`, backward, Adam(1e-4).
///   INT8 is the `int8` recipe (`INT8_DEFAULT_CFG`: W8 per-channel, A8 per-tensor on every Linear
///   and LayerNorm input, as ModelOpt quantizes the reference's `nn.LayerNorm`s), max-calibrated
///   on 4 random batches.
/// - `minilm_encoder_forward_b32_t128`: no-grad evaluation forward of a MiniLM-L6-sized encoder
///   (embeddings 30522/512/2 + LayerNorm, 6 layers, mean over all 128 tokens, no pooler), random
///   weights, random ids `[32, 128]`.
enum BertBench {
  static func config() -> BertConfig {
    var c = BertConfig.miniLML6
    c.hiddenDropoutProb = 0
    c.attentionProbsDropoutProb = 0
    return c
  }

  static func layerStep(_ layer: Module, _ opt: Adam, _ x: Tensor) {
    opt.zeroGrad()
    let y = layer(x)
    let loss = (y * y).mean()
    loss.backward()
    opt.step()
    Sink.consume(loss.item)
  }

  /// GEMM work of one layer step (tokens 1024, D 384, FFN 1536, 12 heads of 32, T 128): the
  /// forward (six Linears 3.624 GFLOP + QKᵀ and P·V 0.201), the backward's weight gradients of all
  /// six Linears (3.624), input gradients of `o`, FFN-in, FFN-out (2.718: the layer input needs none)
  /// and the four attention products (0.403). Softmax, LayerNorm, GELU and Adam are not counted.
  static let layerStepFlop = 10_569_646_080.0
  /// Forward GEMM work of the encoder at `[32, 128]`: 6 × (Linears 14.496 + attention 0.805) GFLOP.
  static let encoderForwardFlop = 91_804_925_952.0

  static func withRate(_ r: BenchResult, flop: Double, gemmRate: () -> Double?) -> BenchResult {
    var r = r
    guard r.medianS > 0 else { return r }
    let gflops = flop / r.medianS / 1e9
    r.extra["gflop_per_s"] = gflops
    if let sgemm = gemmRate() { r.extra["fraction_of_sgemm"] = gflops / sgemm }
    return r
  }

  static func items(scale: Double, gemmRate: @escaping () -> Double? = { nil }) -> [Item] {
    var items: [Item] = []
    for name in ["fp32", "int8"] {
      let key = "bert_layer_train_step_\(name)_b8_t128"
      let work = (name == "fp32" ? "FP32" : "QAT INT8 (int8 recipe = INT8_DEFAULT_CFG, LayerNorm inputs too)")
        + ": one BERT post-norm layer (384, 12 heads, FFN 1536, GELU) on [8,128,384], mean(y^2), backward, Adam(1e-4)"
      items.append(Item(key: key) {
        var rng = RandomGenerator(seed: 7)
        let x = Tensor.randn([8, 128, 384], using: &rng)
        let layer = BertLayer(config: config(), initialization: .random(seed: 1))
        if name == "int8" {
          let calib = (0..<4).map { _ in Tensor.randn([8, 128, 384], using: &rng) }
          let context = ModeContext(forwardLoop: { m in for c in calib { _ = m(c) } })
          do {
            _ = try QuantizeMode.convert(layer, config: BertQuantization.config(.int8), context: context)
          } catch {
            return [.failed(key, unit: "ms", higherIsBetter: false, work: work, error: "\(error)")]
          }
        }
        layer.train()
        let opt = Adam(layer.trainableParameters(), learningRate: 1e-4)
        guard name == "int8" else {
          let t = Timing.measure(runs: 21, warmup: 3, scale: scale) { layerStep(layer, opt, x) }
          return [withRate(
            BenchResult(key, t, unit: "ms", value: t.median * 1e3, higherIsBetter: false, work: work), flop: layerStepFlop,
            gemmRate: gemmRate)]
        }
        // The step as trained (integer forward GEMMs where the CPU has VNNI), timed in turn with
        // the float reference path (`Linear.ForwardPath.float`) in the same run.
        let ts = Timing.measureInterleaved(count: 2, runs: 21, warmup: 3, scale: scale) { i in
          if i == 0 { layerStep(layer, opt, x) } else { Linear.withForwardPath(.float) { layerStep(layer, opt, x) } }
        }
        var r = withRate(
          BenchResult(key, ts[0], unit: "ms", value: ts[0].median * 1e3, higherIsBetter: false, work: work),
          flop: layerStepFlop, gemmRate: gemmRate)
        r.extra["float_path_ms"] = ts[1].median * 1e3
        r.extra["speedup_vs_float_path"] = ts[1].median / ts[0].median
        return [r]
      })
    }
    let key = "minilm_encoder_forward_b32_t128"
    items.append(Item(key: key) {
      let model = BertModel(config: config(), pooler: false, initialization: .random(seed: 3))
      model.output = .meanPooled
      model.eval()
      var rng = RandomGenerator(seed: 11)
      let ids = (0..<(32 * 128)).map { _ in Int(rng.next() % 30522) }
      let batch = TokenBatch((0..<32).map { Encoding(ids: Array(ids[($0 * 128)..<($0 * 128 + 128)])) })
      let packed = batch.packed
      let t = Timing.measure(runs: 7, warmup: 2, scale: scale) {
        Sink.consume(Tensor.withoutGrad { model(packed) }.scalars[0])
      }
      return [withRate(
        BenchResult(
          key, t, unit: "ms", value: t.median * 1e3, higherIsBetter: false,
          work: "FP32 forward, no grad, eval: embeddings + 6 BERT layers (384, 12 heads, FFN 1536) + mean pooling, random weights, ids [32,128]"),
        flop: encoderForwardFlop, gemmRate: gemmRate)]
    })
    return items
  }
}
