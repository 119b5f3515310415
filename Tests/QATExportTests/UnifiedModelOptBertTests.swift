import Foundation
import QATKit
import QATTransformers
import Testing
@testable import QATExport

/// ModelOpt's four tiny-BERT exports imported into QATTransformers' `BertModel` reproduce the
/// last hidden state of ModelOpt's own fake-quantized forward pass
/// (`Fixtures/modelopt_export/expected.safetensors`, converted from the shared fixtures'
/// `expected.json` by `make_expected.py`).
@Suite("Unified checkpoint: ModelOpt's tiny BERT end to end") struct UnifiedModelOptBertTests {
  static let expected = try! SafeTensorsFile(contentsOf: UnifiedModelOptTests.dir.appendingPathComponent("expected.safetensors"))

  /// Largest |a − b| over the largest |b|, and the worst cosine of a token's hidden state.
  static func compare(_ a: [Float], _ b: [Float], width: Int) -> (relative: Float, worstCosine: Double) {
    var worst = 1.0
    for r in 0..<(a.count / width) {
      var dot = 0.0, na = 0.0, nb = 0.0
      for c in 0..<width {
        let x = Double(a[r * width + c]), y = Double(b[r * width + c])
        dot += x * y
        na += x * x
        nb += y * y
      }
      worst = min(worst, dot / (na * nb).squareRoot())
    }
    return (UnifiedModelOptTests.relativeError(a, b), worst)
  }

  /// ModelOpt's LayerNorm input ranges (`layernorm_input_amax.json`, see `make_layernorm_amax.py`).
  static let layerNormRanges: [String: [String: (amax: Float, fp8: Bool)]] = {
    let url = UnifiedModelOptTests.dir.appendingPathComponent("layernorm_input_amax.json")
    let json = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: [String: [String: Any]]]
    return json.mapValues { ranges in
      ranges.mapValues { (Float(($0["amax"] as! NSNumber).doubleValue), ($0["num_bits"] as! String) == "(4, 3)") }
    }
  }()

  /// The fixture's imported BERT (last hidden state as output).
  static func imported(_ kind: String) throws -> BertModel {
    let dir = UnifiedModelOptTests.dir.appendingPathComponent(kind)
    let model = BertModel(config: try BertConfig(contentsOf: dir.appendingPathComponent("config.json")), initialization: .zeros)
    model.eval()
    model.output = .lastHiddenState
    try UnifiedCheckpoint.read(dir).load(into: model)
    return model
  }

  /// What the unified checkpoint does not carry, put back: (1) the LayerNorm input quantizers of
  /// ModelOpt's `QuantLayerNorm` with ModelOpt's ranges; (2) for AWQ, the q/k/v `pre_quant_scale`
  /// that ModelOpt's export folded into the LayerNorm before them. That fold is only right when
  /// the LayerNorm feeds nothing else (pre-norm LLMs); in BERT the same LayerNorm output is also
  /// the residual and the next block's input, so the exported model computes another function.
  /// The tiny BERT's LayerNorm weights were 1 before AWQ (Hugging Face's initialization; the FP8
  /// and INT8 exports of the same model still hold 1), so the folded weight *is* the scale.
  static func restoreModelOptState(_ model: BertModel, kind: String) throws {
    let modules = Dictionary(model.namedModules().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    if kind.hasSuffix("awq") {
      for (i, layer) in model.encoder.layers.enumerated() {
        let norm = i == 0 ? model.embeddings.layerNorm : model.encoder.layers[i - 1].output.layerNorm
        let scale = norm.weight.scalars
        try model.loadStateDict([(i == 0 ? "embeddings.LayerNorm" : "encoder.layer.\(i - 1).output.LayerNorm") + ".weight": .ones([scale.count])], strict: false)
        let a = layer.attention.selfAttention
        for (name, l) in [("query", a.query), ("key", a.key), ("value", a.value)] {
          if let iq = l.quantizer(slot: "input_quantizer") as? TensorQuantizer {
            try iq.setPreQuantScale(Tensor(scale))
          } else {
            // Weight-only: W · (x ⊙ s) = (W · diag(s)) · x.
            let w = l.weight.scalars, cols = scale.count
            let folded = w.indices.map { w[$0] * scale[$0 % cols] }
            try model.loadStateDict(["encoder.layer.\(i).attention.self.\(name).weight": Tensor(folded, shape: l.weight.shape)], strict: false)
          }
        }
      }
    }
    for (path, r) in layerNormRanges[kind] ?? [:] {
      let q = try TensorQuantizer(attributes: r.fp8 ? QuantizerAttributes(format: .e4m3) : .int(8))
      try q.setAmax(Tensor(scalar: r.amax))
      modules[String(path.dropLast(".input_quantizer".count))]!.setQuantizer(q, slot: "input_quantizer")
    }
  }

  /// `model`'s last hidden state for the fixture's 4 × 24 token ids.
  static func lastHiddenState(_ model: BertModel) throws -> [Float] {
    let ids = try expected.int64s("input_ids").map(Int.init)
    let batch = TokenBatch((0..<4).map { Encoding(ids: Array(ids[($0 * 24)..<($0 * 24 + 24)])) })
    return Tensor.withoutGrad { model(batch) }.scalars
  }

  /// Largest difference relative to the largest |value| of ModelOpt's fake-quantized last hidden
  /// state; measured in the debug build (in parentheses), the bound with headroom:
  ///
  /// - `complete`: the import plus what the unified format does not carry
  ///   (``restoreModelOptState(_:kind:)``). FP8 and INT8 SmoothQuant (1.1e-7): float rounding
  ///   only (weights within 4 ulp, matmul order, the range recovered as `input_scale × maxBound`);
  ///   one activation landing a quantization step away at a rounding tie would cost ~1e-2, so
  ///   1e-4 still catches any such step. AWQ (INT4 3.4e-3, W4A8 7.1e-2): before folding, ModelOpt's
  ///   export (`preprocess_linear_fusion`) re-smooths q/k/v to the *mean* of their three
  ///   `pre_quant_scale`s and re-quantizes their weights with it, and for W4A8 also sets their
  ///   input range and second-stage weight scale to the maximum of the three: the exported model
  ///   is not the one ModelOpt's forward ran, and the difference cannot be undone on import.
  /// - `exported`: the directory alone, as a runtime loads it: FP8 (7.7e-2) and INT8-SQ (2.3e-2)
  ///   lack the five LayerNorm input quantizers; AWQ (0.39, 0.38) also folds the mean q/k/v scale
  ///   into a LayerNorm whose output BERT also uses as the residual, which makes the export
  ///   further from ModelOpt's quantized model than the FP32 model is (ModelOpt's quantized vs
  ///   FP32: 9.3e-3 INT4, 7.7e-2 W4A8).
  static let complete: [String: Float] = ["fp8": 1e-4, "int8_sq": 1e-4, "int4_awq": 1e-2, "w4a8_awq": 0.1]
  static let exported: [String: Float] = ["fp8": 0.1, "int8_sq": 0.05, "int4_awq": 0.5, "w4a8_awq": 0.5]

  @Test(arguments: ["fp8", "int8_sq", "int4_awq", "w4a8_awq"])
  func reproducesModelOptsForward(kind: String) throws {
    let want = try Self.expected.floats("\(kind).fake_quant_last_hidden_state")
    let fp32 = try Self.expected.floats("fp32_last_hidden_state")
    let model = try Self.imported(kind)
    let (relExported, cosExported) = Self.compare(try Self.lastHiddenState(model), want, width: 128)
    try Self.restoreModelOptState(model, kind: kind)
    let got = try Self.lastHiddenState(model)
    let (rel, cos) = Self.compare(got, want, width: 128)
    let (relFP32, _) = Self.compare(want, fp32, width: 128)
    print(String(format: "%@: QATKit BertModel vs ModelOpt's fake-quant forward: complete %.3g of max (worst token cosine %.7f), exported directory alone %.3g (%.7f); ModelOpt quantized vs FP32 %.3g",
                 kind, rel, cos, relExported, cosExported, relFP32))
    #expect(rel <= Self.complete[kind]!, "\(kind): \(rel)")
    #expect(relExported <= Self.exported[kind]!, "\(kind): \(relExported)")
    #expect(rel < relExported, "\(kind): restoring ModelOpt's state moves the import closer")
    if kind.hasSuffix("awq") {
      #expect(relExported > relFP32, "\(kind): ModelOpt's AWQ export folds q/k/v scales into a LayerNorm BERT also uses elsewhere")
    }
  }
}
