import Foundation
import QATKit
import QATRegistry
import QATTransformers

/// Quantization-aware distillation of a quantized MiniLM from the FP32 teacher, as ModelOpt's
/// reference script does it: loss `mean(1 − cos(student, teacher))` on the sentence embeddings
/// (``CosineCriterion`` on the model outputs; optionally plus the hidden states of every
/// encoder layer), Adam, batches of 32 shuffled per epoch, every
/// parameter trained; learned ranges (LSQ) each in their own Adam at `rangeLearningRate`
/// (activation ranges) or `weightRangeLearningRate` (weight ranges) times the range's initial
/// mean magnitude.
struct MiniLMDistillation {
  let teacher: BertModel
  let corpus: [Encoding]
  let epochs: Int
  let batchSize: Int
  let learningRate: Float
  let rangeLearningRate: Float
  let weightRangeLearningRate: Float
  let seed: UInt64
  /// Weight of the hidden-state terms (cosine between each encoder layer's student and
  /// teacher outputs, split evenly over the layers); 0 = the sentence embedding only.
  let hiddenWeight: Float
  let registry: Registry

  /// Trains `student` in place; returns the distillation model (training done, evaluation
  /// mode) and the wall time of the training loop.
  func run(_ student: BertModel, label: String) throws -> (DistillationModel, Double) {
    var kd = KDConfig(teacher: teacher, criterion: CosineCriterion())
    if hiddenWeight > 0 {
      let layers = student.encoder.layers.count
      let paths = (0..<layers).map { "encoder.layer.\($0)" }
      kd = KDConfig(
        teacher: teacher,
        entries: [KDCriterionEntry(.outputs, CosineCriterion())] + paths.map { KDCriterionEntry(KDLayerPair($0), CosineCriterion()) },
        balancer: try StaticBalancer(kdWeights: [1 - hiddenWeight] + paths.map { _ in hiddenWeight / Float(layers) }))
    }
    guard let dm = try convert(student, modes: [.kdLoss(kd)], registry: registry) as? DistillationModel else {
      throw CLIError.failure("kd_loss did not produce a distillation model")
    }
    let trainable = student.namedParameters().filter { $0.1.requiresGrad }
    let ranges = trainable.filter { $0.0.contains("_quantizer.") }
    let weights = trainable.filter { !$0.0.contains("_quantizer.") }.map(\.1)
    var members: [any Optimizer] = [Adam(weights, learningRate: learningRate)]
    // Ranges differ by orders of magnitude (weight ranges ~0.1, LayerNorm inputs ~200) and
    // Adam moves each value by about its learning rate per step: each range tensor gets a
    // rate relative to its initial size, so every range can change by the same fraction.
    // Weight ranges (per channel or block, next to weights that move little at 2e-5) take a
    // smaller fraction than activation ranges (on MiniLM INT4 block-128 + AWQ-full, 1e-2 for the
    // weight ranges gave 0.9858, 1e-3 0.9904; INT8_DEFAULT's LayerNorm-input ranges need 1e-2).
    for (name, r) in ranges {
      let scale = r.scalars.reduce(0) { $0 + Swift.abs($1) } / Float(Swift.max(1, r.count))
      let rate = name.contains("weight_quantizer.") ? weightRangeLearningRate : rangeLearningRate
      members.append(Adam([r], learningRate: rate * scale))
    }
    let optimizer = OptimizerGroup(members)
    let steps = (corpus.count + batchSize - 1) / batchSize
    let progress = Progress("  \(label)", total: epochs * steps)
    var rng = RandomGenerator(seed: seed)
    let start = Date()
    dm.train()
    var done = 0
    var recent: [Float] = []
    for _ in 0..<epochs {
      var order = Array(corpus.indices)
      for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
      for s in 0..<steps {
        try Interrupt.check()
        let idx = order[(s * batchSize)..<min(order.count, (s + 1) * batchSize)]
        let batch = TokenBatch(idx.map { corpus[$0] })
        optimizer.zeroGrad()
        _ = dm(batch.packed)
        let loss = try dm.computeKDLoss()
        loss.backward()
        optimizer.step()
        done += 1
        recent = Array((recent + [loss.item]).suffix(20))
        progress.update(done, note: String(format: "loss %.5f", recent.reduce(0, +) / Float(recent.count)))
      }
    }
    progress.finish()
    dm.eval()
    return (dm, Date().timeIntervalSince(start))
  }
}
