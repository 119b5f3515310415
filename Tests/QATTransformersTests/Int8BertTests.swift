import Foundation
import Testing

import QATKit
import QATRegistry
import QATTestSupport
import QATTransformers

/// ``Int8BertModel`` against the fake-quantized ``BertModel`` it is built from: a tiny random
/// BERT (odd widths, so the INT8 rows are padded; a padded batch), every instruction set, the
/// LayerNorm and attention-matmul quantizers as fake quantization, and the errors.
@Suite("Int8BertModel")
struct Int8BertTests {
  /// Hidden 12 (3 heads of 4), FFN 30: neither a multiple of 32, the FFN not of 4.
  static let config = try! BertConfig(
    vocabSize: 40, hiddenSize: 12, numHiddenLayers: 2, numAttentionHeads: 3, intermediateSize: 30, maxPositionEmbeddings: 16)

  /// Random sentences of 3…`maxLength` ids (a padded batch).
  static func batch(count: Int, maxLength: Int = 12, seed: UInt64) -> TokenBatch {
    var rng = RandomGenerator(seed: seed)
    return TokenBatch((0..<count).map { _ in
      Encoding(ids: (0..<Int.random(in: 3...maxLength, using: &rng)).map { _ in Int.random(in: 1..<40, using: &rng) })
    })
  }

  /// A random tiny BERT (weights N(0, 0.3), so every layer matters) quantized with `config`,
  /// max-calibrated on two padded batches; returns the last hidden state.
  static func quantized(_ config: QuantizeConfig, seed: UInt64, bert: BertConfig = Self.config) throws -> BertModel {
    let m = BertModel(config: bert, initialization: .random(seed: seed))
    var rng = RandomGenerator(seed: seed &+ 5)
    for (name, p) in m.namedParameters() where name.hasSuffix(".weight") && !name.contains("LayerNorm") {
      try p.assign(Tensor.randn(p.shape, std: 0.3, using: &rng))
    }
    m.eval()
    m.output = .lastHiddenState
    let calibration = (0..<2).map { batch(count: 6, seed: 10 + UInt64($0)).packed }
    try convert(m, modes: [.quantize(config)], forwardLoop: { m in for b in calibration { _ = m(b) } })
    return m
  }

  /// Largest |a − b| over the real (unpadded) tokens of `[N, T, D]` hidden states.
  static func maxDifference(_ a: Tensor, _ b: Tensor, mask: TokenBatch) -> Float {
    let (n, t, d) = (a.shape[0], a.shape[1], a.shape[2])
    var worst: Float = 0
    for i in 0..<n {
      for j in 0..<t where mask.attentionMask[i][j] != 0 {
        for c in 0..<d { worst = Swift.max(worst, Swift.abs(a.scalars[(i * t + j) * d + c] - b.scalars[(i * t + j) * d + c])) }
      }
    }
    return worst
  }

  @Test("int8_no_ln: hidden states equal the fake-quantized model's within float rounding, on every instruction set")
  func matchesFakeQuantizedNoLayerNorm() throws {
    let m = try Self.quantized(BertQuantization.config(.int8NoLayerNorm), seed: 1)
    let probe = Self.batch(count: 5, seed: 99)
    let reference = Tensor.withoutGrad { m(probe.packed) }
    var outputs: [[Float]] = []
    for isa in Int8InstructionSet.allCases where isa.isSupported {
      let int8 = try Int8BertModel(m, instructionSet: isa)
      let got = try int8(probe)
      #expect(got.shape == reference.shape)
      let diff = Self.maxDifference(got, reference, mask: probe)
      // LayerNorm outputs are O(1): the integer sums are exact where the float ones round.
      #expect(diff < 1e-4, "\(isa): max |Δ| \(diff)")
      outputs.append(got.scalars)
    }
    #expect(outputs.allSatisfy { $0 == outputs[0] }, "instruction sets disagree")
    // Padding does not leak: a sentence alone gives its rows of the padded batch.
    let int8 = try Int8BertModel(m)
    m.output = .sentenceEmbedding
    let first = Encoding(ids: probe.ids[0].enumerated().filter { probe.attentionMask[0][$0.offset] != 0 }.map(\.element))
    let alone = try int8(TokenBatch([first])).scalars
    let padded = try int8(probe).scalars
    #expect(zip(alone, padded.prefix(alone.count)).allSatisfy { Swift.abs($0 - $1) < 1e-5 })
  }

  @Test("q/k/v as one GEMM and fused attention (widths multiples of 32): equal to the fake-quantized model, padding masked")
  func stackedProjectionsMatchFakeQuantized() throws {
    // Hidden 64 (2 heads of 32), FFN 40: `query | key | value` stack into one GEMM.
    let bert = try BertConfig(
      vocabSize: 40, hiddenSize: 64, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 40, maxPositionEmbeddings: 16)
    let m = try Self.quantized(BertQuantization.config(.int8NoLayerNorm), seed: 6, bert: bert)
    let int8 = try Int8BertModel(m)
    #expect(int8.stacksProjections && int8.fusesAttention)
    for probe in [Self.batch(count: 5, seed: 97), Self.batch(count: 1, maxLength: 13, seed: 96)] {
      let reference = Tensor.withoutGrad { m(probe.packed) }
      let got = try int8(probe)
      let diff = Self.maxDifference(got, reference, mask: probe)
      #expect(diff < 1e-4, "max |Δ| \(diff)")
    }
  }

  @Test("a batch larger than one pass runs as several passes and gives each pass's values, bit for bit")
  func largeBatchesRunInPasses() throws {
    let m = try Self.quantized(BertQuantization.config(.int8NoLayerNorm), seed: 3)
    let int8 = try Int8BertModel(m)
    let per = Int8BertModel.sentencesPerPass
    let probe = Self.batch(count: per + 7, seed: 41)   // padded: every pass masks keys
    let whole = try int8(probe)
    #expect(whole.shape[0] == per + 7)
    var firstSentences: [Encoding] = []
    for i in 0..<per {
      let mask = probe.attentionMask[i]
      let real: [Int] = probe.ids[i].indices.filter { mask[$0] != 0 }.map { probe.ids[i][$0] }
      firstSentences.append(Encoding(ids: real))
    }
    let first = try int8(TokenBatch(firstSentences))
    // The first pass alone (re-padded to its own longest sentence) masks the same keys; compare
    // its real tokens' rows, which do not depend on the padding length.
    let t = probe.ids[0].count, tFirst = first.shape[1], d = whole.shape[2]
    let rowSize = t * d
    let wholeValues = whole.scalars, firstValues = first.scalars
    var worst: Float = 0
    for i in 0..<per {
      for j in 0..<tFirst where probe.attentionMask[i][j] != 0 {
        for c in 0..<d {
          let a = wholeValues[(i * t + j) * d + c], b = firstValues[(i * tFirst + j) * d + c]
          worst = Swift.max(worst, Swift.abs(a - b))
        }
      }
    }
    #expect(worst < 1e-5, "first pass vs the same sentences alone: max |Δ| \(worst)")
    // The last pass: its 7 sentences, padded to the whole batch's length, give the same bits.
    let tail = Tensor(shape: [7, 2, t], storage: Array(probe.packed.scalars[(per * 2 * t)...]))
    let last = try int8(tail)
    #expect(Array(whole.scalars[(per * rowSize)...]) == last.scalars)
  }

  @Test("int8 with LayerNorm inputs and attention matmuls quantized: those stay fake quantization, outputs match")
  func matchesFakeQuantizedWithLayerNormAndBmm() throws {
    let cfg = BertQuantization.config(.int8).adding("*bmm_quantizer", .int(8))
    let m = try Self.quantized(cfg, seed: 2)
    m.output = .sentenceEmbedding
    let probe = Self.batch(count: 5, seed: 98)
    let reference = Tensor.withoutGrad { m(probe.packed) }
    let got = try Int8BertModel(m)(probe)
    let diff = zip(got.scalars, reference.scalars).map { Swift.abs($0 - $1) }.max() ?? .infinity
    #expect(diff < 1e-4, "max |Δ| \(diff)")
    #expect(try !Int8BertModel(m).fusesAttention)  // the bmm quantizers apply: the unfused path
    // The float fake quantizers are applied, read from the model at each call: switching the
    // LayerNorm and attention-matmul ones off changes the result, and it still matches the model.
    var switched = 0
    for (path, q) in m.namedQuantizers() where path.contains("LayerNorm") || path.contains("bmm") {
      q.isEnabled = false
      switched += 1
    }
    #expect(switched == 5 + 8)
    #expect(try Int8BertModel(m).fusesAttention)  // disabled, no pre-quantization scale: fused
    let off = try Int8BertModel(m)(probe)
    #expect(zip(got.scalars, off.scalars).map { Swift.abs($0 - $1) }.max()! > 1e-3)
    let offReference = Tensor.withoutGrad { m(probe.packed) }
    #expect(zip(off.scalars, offReference.scalars).map { Swift.abs($0 - $1) }.max()! < 1e-4)
  }

  @Test("unquantized, weight-only and malformed input: typed errors naming the layer or the input")
  func errors() throws {
    let plain = BertModel(config: Self.config)
    #expect(throws: Int8InferenceError.self) { try Int8BertModel(plain) }
    do {
      _ = try Int8BertModel(plain)
    } catch {
      #expect(error.description.contains("encoder.layer.0.attention.self.query"), "\(error)")
    }
    let weightOnly = try Self.quantized(BertQuantization.config(.int8WeightOnly), seed: 3)
    do {
      _ = try Int8BertModel(weightOnly)
      Issue.record("weight-only model accepted")
    } catch {
      #expect(error.description.contains("input is not quantized"), "\(error)")
    }
    let int8 = try Int8BertModel(try Self.quantized(BertQuantization.config(.int8NoLayerNorm), seed: 4))
    #expect(throws: TransformersError.self) { try int8(Tensor.zeros([2, 3])) }
    #expect(throws: TransformersError.self) { try int8(TokenBatch([Encoding(ids: [1, 40])])) }
    #expect(throws: TransformersError.self) { try int8(TokenBatch([Encoding(ids: Array(repeating: 1, count: 17))])) }
    #expect(throws: TransformersError.self) { try int8(Tensor.zeros([0, 2, 0])) }
  }
}

/// all-MiniLM-L6-v2 on integers, when the model is present (skipped otherwise, with the reason).
@Suite("Int8BertModel: all-MiniLM-L6-v2", .enabled(if: MiniLMFixture.directory != nil, Comment(rawValue: MiniLM.missingHint)))
struct Int8MiniLMTests {
  @Test("int8_no_ln PTQ: sentence embeddings equal the fake-quantized model's (cosine ≥ 1 − 1e-4), padding masked")
  func matchesFakeQuantized() throws {
    let tokenizer = MiniLMFixture.shared!.tokenizer
    let model = try BertModel.load(directory: MiniLMFixture.directory!)
    let calibration = tokenizer.batch(["Return the sum of the two numbers.", "Open the file and read every line."]).packed
    try convert(model, modes: [.quantize(BertQuantization.config(.int8NoLayerNorm))], forwardLoop: { m in _ = m(calibration) })
    let probe = tokenizer.batch(["Escape all special characters.", "Read it.", "Sort the list in place, then print it."])
    let reference = Tensor.withoutGrad { model(probe) }
    let got = try Int8BertModel(model)(probe)
    let cmp = try EmbeddingComparison(got, reference: reference)
    #expect(cmp.minCosine >= 1 - 1e-4, "\(cmp)")
    let fp32 = Tensor.withoutGrad { MiniLMFixture.shared!.model(probe) }
    #expect(try EmbeddingComparison(got, reference: fp32).minCosine < 1 - 1e-7)  // it is quantized
  }
}
