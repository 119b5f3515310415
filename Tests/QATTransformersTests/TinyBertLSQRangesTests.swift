import Foundation
import Testing

import QATKit
import QATPlugins
import QATRegistry
import QATTestSupport
import QATTransformers

/// `qatkit-run minilm --algorithm X --ranges lsq` on a tiny random BERT: the algorithm runs on
/// the built-in quantizers, `lsq_ranges` turns every integer range into an LSQ range starting
/// there, a training step moves them, and the checkpoint restores bit for bit with the
/// algorithm's weights and `pre_quant_scale`s.
@Suite("Tiny BERT: calibration algorithm, then LSQ ranges")
struct TinyBertLSQRangesTests {
  @Test(arguments: [
    (BertQuantization.Recipe.int8, #"{"method": "smoothquant", "alphas": [0.25, 0.5, 0.75]}"#),
    (BertQuantization.Recipe.int8NoLayerNorm, #"{"method": "smoothquant"}"#),
    (BertQuantization.Recipe.int8WeightOnly, #"{"method": "awq_lite"}"#),
  ])
  func algorithmThenLearnedRanges(recipe: BertQuantization.Recipe, algorithm: String) throws {
    let registry = InTreePlugins.registry
    let spec = try JSONValue(parsing: algorithm).decode(CalibrationAlgorithmSpec.self, context: "test")
    let config = BertQuantization.config(recipe, activationCalibrator: "percentile").with(algorithm: spec)
    let x = TinyBertTests.batch.packed
    let loop: (Module) throws -> Void = { m in _ = m(x) }
    let teacher = try TinyBertTests.model(seed: 11, output: .sentenceEmbedding)
    let ptq = try TinyBertTests.model(seed: 11, output: .sentenceEmbedding)
    try convert(ptq, modes: [.quantize(config)], registry: registry, forwardLoop: loop)
    let m = try TinyBertTests.model(seed: 11, output: .sentenceEmbedding)
    try convert(m, modes: [.quantize(config), .named("lsq_ranges")], registry: registry, forwardLoop: loop)

    // LSQ starts from the algorithm's result.
    let ptqParams = Dictionary(uniqueKeysWithValues: ptq.namedParameters().map { ($0.0, $0.1.scalars) })
    for (name, p) in m.namedParameters() where !name.contains("_quantizer.") {
      #expect(p.scalars == ptqParams[name], "\(name): the algorithm's weights are kept")
    }
    let ptqQuantizers = Dictionary(uniqueKeysWithValues: ptq.namedQuantizers())
    var converted = 0
    for (path, q) in m.namedQuantizers() where q.isEnabled && q.attributes.format.isInteger {
      #expect(q.attributes.algorithm == "lsq", "\(path)")
      let before = Dictionary(uniqueKeysWithValues: ptqQuantizers[path]!.stateTensors().map { ($0.0, $0.1.scalars) })
      let after = Dictionary(uniqueKeysWithValues: q.stateTensors().map { ($0.0, $0.1.scalars) })
      #expect(after == before, "\(path): range and pre_quant_scale are the algorithm's")
      converted += 1
    }
    #expect(converted > 0)
    m.eval()
    let (a, b) = Tensor.withoutGrad { (m(x).scalars, ptq(x).scalars) }
    #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-3 }, "the converted model computes the PTQ model's embeddings")

    // One training step moves the learned ranges.
    let ranges = m.namedParameters().filter { $0.0.contains("_quantizer.") }.map(\.1)
    #expect(!ranges.isEmpty)
    let rangesBefore = ranges.map(\.scalars)
    let optimizer = Adam(m.parameters(), learningRate: 1e-2)
    m.train()
    optimizer.zeroGrad()
    let target = Tensor.withoutGrad { teacher(x) }
    Loss.mse(m(x), target).backward()
    optimizer.step()
    #expect(ranges.map(\.scalars) != rangesBefore)

    let url = temporaryFileURL("tiny-bert-lsq-ranges").appendingPathExtension("safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try save(m, to: url, registry: registry)
    let fresh = try TinyBertTests.model(seed: 99, output: .sentenceEmbedding)
    try restore(fresh, from: url, registry: registry)
    #expect(fresh.modeHistory.map(\.name) == ["quantize", "lsq_ranges"])
    let bits = { (model: Module) in model.stateDict().map { "\($0.0):\($0.1.scalars.map(\.bitPattern))" } }
    #expect(bits(fresh) == bits(m))
    m.eval()
    fresh.eval()
    #expect(Tensor.withoutGrad { fresh(x) }.scalars == Tensor.withoutGrad { m(x) }.scalars)
  }
}
