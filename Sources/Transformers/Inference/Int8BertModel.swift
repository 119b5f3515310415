import QATKit

/// A W8A8-quantized ``BertModel`` running its Linear layers on integers.
///
/// Every encoder Linear (`query`, `key`, `value`, `attention.output.dense`, `intermediate.dense`,
/// `output.dense`) is an ``QATKit/Int8Linear``: u8 × s8 → s32 GEMMs (AVX-512 VNNI, AVX2 or
/// portable C) with the dequantization and bias in the epilogue. `query`, `key` and `value`
/// share one quantization of their input when their input ranges are equal (as max calibration
/// on the same tensor makes them), and then run as one GEMM (``QATKit/Int8Linear/stacked(_:)``,
/// when their widths are multiples of 32). GELU runs on `intermediate.dense`'s float output with
/// the model's vectorized kernel (the integer epilogue's GELU calls a scalar `erff` per value,
/// which costs more than the GEMM at MiniLM's width), fused with the quantization of
/// `output.dense`'s input; the residual add and LayerNorm are likewise one pass with the next
/// Linear's input quantization when the LayerNorm's quantizers are off (`int8_no_ln`).
/// Embeddings, attention products, softmax and LayerNorm run in float as
/// in the fake-quantized model, with the same kernels; attention runs fused per (sentence, head)
/// (``QATKit/AttentionKernels``: no `[B, H, T, T]` score tensor, padded keys skipped; the same
/// values without padding, a few ulp apart with it) unless an
/// attention-matmul `*_bmm_quantizer` is enabled or scales its input. Quantizers enabled in the
/// float parts (LayerNorm inputs and outputs, the `*_bmm_quantizer`s) are applied as fake
/// quantization, so the outputs still match.
///
/// Requirements: each of those Linears as ``QATKit/Int8Linear`` needs (INT8 weights per channel
/// or per tensor, a calibrated static INT8 per-tensor input quantizer, no output quantizer) —
/// `int8_no_ln` and `int8` of ``BertQuantization``. The pooler is not run (no output uses it).
///
/// The integer Linears are snapshots of the model's weights and ranges when this is created; the
/// float parts (embeddings, LayerNorms, fake quantizers) are read from `model` at every call, so
/// build a new one after changing the model. Dropout is never applied (evaluation).
///
/// Numerics against the fake-quantized model: see README, "Integer inference" (each Linear's
/// outputs differ by the float rounding of its sum; a value within that rounding of a
/// quantization boundary of the next input moves one INT8 step).
///
/// ```swift
/// try convert(model, modes: [.quantize(BertQuantization.config(.int8NoLayerNorm))], forwardLoop: ...)
/// let int8 = try Int8BertModel(model)
/// let embeddings = try int8(tokenizer.batch(sentences))   // ≈ model(batch)
/// ```
public final class Int8BertModel {
  /// The integer Linears of one encoder layer.
  struct Layer {
    let query: Int8Linear, key: Int8Linear, value: Int8Linear
    let attentionOutput: Int8Linear, intermediate: Int8Linear, output: Int8Linear
    /// Whether `query`, `key` and `value` quantize their input identically (one set of codes).
    let sharedQKVInput: Bool
    /// `query`, `key` and `value` as one GEMM (``QATKit/Int8Linear/stacked(_:)``), when they
    /// share their input quantization.
    let qkv: Int8Linear?
    /// The layer whose input codes serve all of `query`, `key` and `value`, if one does.
    var inputLayer: Int8Linear? { qkv ?? (sharedQKVInput ? query : nil) }
  }

  /// The float model (embeddings, LayerNorms, fake quantizers, configuration).
  public let model: BertModel
  /// The kernels the integer GEMMs run on.
  public let instructionSet: Int8InstructionSet
  let layers: [Layer]

  /// Creates the integer form of a quantized BERT model.
  ///
  /// - Parameters:
  ///   - model: A `BertModel` after the `quantize` mode with INT8 W8A8 on every encoder Linear.
  ///   - instructionSet: The kernels to use (default: the fastest this CPU has).
  /// - Throws: ``QATKit/Int8InferenceError`` naming the first Linear that cannot run on integers.
  public init(_ model: BertModel, instructionSet: Int8InstructionSet = .best) throws(Int8InferenceError) {
    guard instructionSet.isSupported else { throw .unsupportedInstructionSet(instructionSet) }
    var layers: [Layer] = []
    for (i, l) in model.encoder.layers.enumerated() {
      let p = "encoder.layer.\(i)"
      let sa = l.attention.selfAttention
      let q = try Int8Linear(sa.query, path: "\(p).attention.self.query")
      let k = try Int8Linear(sa.key, path: "\(p).attention.self.key")
      let v = try Int8Linear(sa.value, path: "\(p).attention.self.value")
      let shared = [k, v].allSatisfy { $0.inputMultiplier == q.inputMultiplier && $0.inputMinCode == q.inputMinCode }
      layers.append(Layer(
        query: q, key: k, value: v,
        attentionOutput: try Int8Linear(l.attention.output.dense, path: "\(p).attention.output.dense"),
        intermediate: try Int8Linear(l.intermediate.dense, path: "\(p).intermediate.dense"),
        output: try Int8Linear(l.output.dense, path: "\(p).output.dense"),
        sharedQKVInput: shared, qkv: shared ? Int8Linear.stacked([q, k, v]) : nil))
    }
    self.model = model
    self.instructionSet = instructionSet
    self.layers = layers
  }

  /// Runs a tokenized batch (see ``BertModel/output``).
  ///
  /// - Throws: ``TransformersError/invalidInput(_:)`` for token ids outside the vocabulary or more
  ///   tokens than the model has positions.
  public func callAsFunction(_ batch: TokenBatch) throws(TransformersError) -> Tensor { try self(batch.packed) }

  /// Runs a packed batch `[N, 2, T]` (ids, mask; ``TokenBatch/packed``) → what ``BertModel/output``
  /// selects, computed as ``BertModel/forward(_:)`` does with the encoder Linears on integers.
  ///
  /// - Throws: ``TransformersError/invalidInput(_:)`` for a tensor of another shape or an empty
  ///   batch, token ids
  ///   that are not integers below the vocabulary size, or more tokens than positions.
  public func callAsFunction(_ packed: Tensor) throws(TransformersError) -> Tensor {
    let batch = try PackedTokenBatch(packed, config: model.config, model: "Int8BertModel")
    let (n, t, ids, mask) = (batch.sentences, batch.tokens, batch.ids, batch.mask)
    // Sentences are independent and every range is static, so a large batch runs as passes of at
    // most `Self.sentencesPerPass` sentences: the same values (the mask decision is the whole
    // batch's), and each pass's activations stay within the caches instead of growing with `n`
    // (MiniLM at batch 256, Benchmarks/onnx-compare-minilm.sh: 4.37 s in one pass, 1.95 s in passes of 32).
    let masked = batch.hasPadding
    var outputs: [Float] = []
    var outputShape: [Int] = []
    for start in stride(from: 0, to: n, by: Self.sentencesPerPass) {
      let end = min(n, start + Self.sentencesPerPass)
      let part = forward(ids: Array(ids[(start * t)..<(end * t)]), mask: Array(mask[(start * t)..<(end * t)]),
                         sentences: end - start, tokens: t, masked: masked)
      if outputs.isEmpty { outputs.reserveCapacity(part.count / (end - start) * n) }
      outputs.append(contentsOf: part.storage)
      outputShape = part.shape
    }
    outputShape[0] = n
    return Tensor(shape: outputShape, storage: outputs)
  }

  /// The most sentences one pass of the encoder runs; larger batches run as several passes.
  package static let sentencesPerPass = 32

  /// The encoder on `sentences` × `tokens` validated ids and mask.
  private func forward(ids: [Float], mask: [Float], sentences n: Int, tokens t: Int, masked: Bool) -> Tensor {
    let maskTensor = Tensor(shape: [n, t], storage: mask)
    let keyMask = masked ? maskTensor : nil
    return Tensor.withoutGrad {
      let e = model.embeddings
      let words = e.wordEmbeddings(Tensor(shape: [n, t], storage: ids))
      let tokenType = e.tokenTypeEmbeddings(Tensor(shape: [1], storage: [0]))
      let position = e.positionEmbeddings(Tensor(shape: [t], storage: (0..<t).map(Float.init)))
      var hidden = e.layerNorm(words + tokenType + position)
      var codes: [UInt8]? = nil
      for (i, (layer, float)) in zip(layers, model.encoder.layers).enumerated() {
        (hidden, codes) = run(layer, float, hidden, codes: codes, next: i + 1 < layers.count ? layers[i + 1].inputLayer : nil, keyMask: keyMask)
      }
      switch model.output {
      case .lastHiddenState: return hidden
      case .meanPooled: return hidden.maskedMeanOverTokens(maskTensor)
      case .sentenceEmbedding: return hidden.maskedMeanOverTokens(maskTensor).l2NormalizedRows()
      }
    }
  }

  /// One encoder layer on `x [B, T, D]` (and `codes`, `x`'s codes for `layer.inputLayer`, when the
  /// previous layer made them) → its output and, when `next` is given and the output LayerNorm
  /// can be fused, the output's codes for `next`.
  func run(
    _ layer: Layer, _ float: BertLayer, _ x: Tensor, codes: [UInt8]?, next: Int8Linear?, keyMask: Tensor?
  ) -> (Tensor, [UInt8]?) {
    let sa = float.attention.selfAttention
    let shape = x.shape
    let (n, t, d) = (shape[0], shape[1], shape[2])
    let rows = n * t
    let scale = 1 / Float(d / sa.heads).squareRoot()
    let context: Tensor
    if Self.passesThrough(sa) {
      // Fused attention (no score tensor) on the projections, `query | key | value` side by side
      // from one GEMM when they share their input codes.
      let projections: [Float], ld: Int, offsets: (Int, Int, Int)
      if let qkv = layer.qkv {
        let codes = codes ?? qkv.quantizeInput(x.storage, rows: rows, isa: instructionSet)
        projections = floats(qkv, codes, rows: rows, shape: shape).storage
        (ld, offsets) = (qkv.outFeatures, (0, layer.query.outFeatures, layer.query.outFeatures + layer.key.outFeatures))
      } else {
        let (q, k, v) = self.projections(layer, x, codes: codes)
        projections = q.storage + k.storage + v.storage
        (ld, offsets) = (d, (0, rows * d, 2 * rows * d))
      }
      let mask = keyMask?.storage ?? []
      context = Tensor(shape: shape, storage: [Float](unsafeUninitializedCapacity: rows * d) { o, count in
        projections.withUnsafeBufferPointer { p in
          mask.withUnsafeBufferPointer { m in
            let base = p.baseAddress!
            AttentionKernels.forward(
              query: base + offsets.0, ldq: ld, key: base + offsets.1, ldk: ld, value: base + offsets.2, ldv: ld,
              out: o.baseAddress!, ldo: d, batch: n, queries: t, keys: t, heads: sa.heads, headDimension: d / sa.heads,
              scale: scale, keyMask: keyMask == nil ? nil : m.baseAddress)
          }
        }
        count = rows * d
      })
    } else {
      // Attention-matmul quantizers (or their pre-quantization scales) apply: the model's
      // unfused float path with them as fake quantization.
      let (q, k, v) = projections(layer, x, codes: codes)
      let scores = Tensor.attentionScores(
        query: sa.quantize(q, slot: "q_bmm_quantizer"), key: sa.quantize(k, slot: "k_bmm_quantizer"), heads: sa.heads)
      let p = sa.quantize(scores.maskedSoftmax(scale: scale, keyMask: keyMask), slot: "p_bmm_quantizer")
      context = Tensor.attentionContext(probabilities: p, value: sa.quantize(v, slot: "v_bmm_quantizer"), heads: sa.heads)
    }
    let ao = layer.attentionOutput
    let projected = floats(ao, ao.quantizeInput(context.storage, rows: rows, isa: instructionSet), rows: rows, shape: shape)
    let inner = layer.intermediate, outer = layer.output
    let (a, innerCodes) = addNorm(float.attention.output.layerNorm, projected, x, next: inner)
    // GELU on floats with the model's vectorized kernel (see the type's comment), fused with the
    // quantization of `output.dense`'s input.
    let pre = floats(inner, innerCodes ?? inner.quantizeInput(a.storage, rows: rows, isa: instructionSet), rows: rows, shape: shape)
    let outerCodes = [UInt8](unsafeUninitializedCapacity: Swift.max(1, rows * outer.depth)) { c, count in
      pre.storage.withUnsafeBufferPointer { p in
        outer.quantizeGELUInput(p.baseAddress!, rows: rows, isa: instructionSet, into: c.baseAddress!)
      }
      count = Swift.max(1, rows * outer.depth)
    }
    let ffn = floats(outer, outerCodes, rows: rows, shape: shape)
    return addNorm(float.output.layerNorm, ffn, a, next: next)
  }

  /// `ln(a + b)` and, when `next` is given, `next`'s input codes of it: one fused pass
  /// (``QATKit/Int8Linear/quantizeLayerNormInput(_:plus:gamma:beta:eps:rows:isa:normalized:codes:)``)
  /// when `ln`'s quantizers leave its input and output unchanged; otherwise the model's LayerNorm
  /// (with its fake quantizers) and no codes.
  func addNorm(_ ln: BertLayerNorm, _ a: Tensor, _ b: Tensor, next: Int8Linear?) -> (Tensor, [UInt8]?) {
    let d = a.shape[a.rank - 1]
    guard let next, next.inFeatures == d, Self.passesThrough(ln, slots: ["input_quantizer", "output_quantizer"]),
          ln.weight.count == d, ln.bias.count == d
    else { return (ln(a + b), nil) }
    let rows = a.count / d
    var codes = [UInt8](repeating: 128, count: Swift.max(1, rows * next.depth))
    let y = [Float](unsafeUninitializedCapacity: rows * d) { o, count in
      a.storage.withUnsafeBufferPointer { pa in
        b.storage.withUnsafeBufferPointer { pb in
          ln.weight.storage.withUnsafeBufferPointer { g in
            ln.bias.storage.withUnsafeBufferPointer { beta in
              codes.withUnsafeMutableBufferPointer { c in
                next.quantizeLayerNormInput(
                  pa.baseAddress!, plus: pb.baseAddress!, gamma: g.baseAddress, beta: beta.baseAddress, eps: ln.eps, rows: rows,
                  isa: instructionSet, normalized: o.baseAddress!, codes: c.baseAddress!)
              }
            }
          }
        }
      }
      count = rows * d
    }
    return (Tensor(shape: a.shape, storage: y), codes)
  }

  /// `query`, `key` and `value` of `x [B, T, D]` as three GEMMs (on one set of input codes when
  /// they share their input quantization).
  func projections(_ layer: Layer, _ x: Tensor, codes: [UInt8]?) -> (Tensor, Tensor, Tensor) {
    let rows = x.count / x.shape[2]
    let shared = layer.sharedQKVInput ? codes ?? layer.query.quantizeInput(x.storage, rows: rows, isa: instructionSet) : nil
    func project(_ l: Int8Linear) -> Tensor {
      floats(l, shared ?? l.quantizeInput(x.storage, rows: rows, isa: instructionSet), rows: rows, shape: x.shape)
    }
    return (project(layer.query), project(layer.key), project(layer.value))
  }

  /// Whether every layer runs `query`, `key` and `value` as one GEMM.
  package var stacksProjections: Bool { layers.allSatisfy { $0.qkv != nil } }

  /// Whether every layer's attention runs fused (read from the model's quantizers now).
  package var fusesAttention: Bool { model.encoder.layers.allSatisfy { Self.passesThrough($0.attention.selfAttention) } }

  /// The attention-matmul quantizer slots of ``BertSelfAttention``.
  static let bmmSlots = ["q_bmm_quantizer", "k_bmm_quantizer", "v_bmm_quantizer", "p_bmm_quantizer"]

  /// Whether every quantizer of `module` in `slots` (default: the attention-matmul ones) leaves
  /// its input unchanged (absent, or disabled without a pre-quantization scale), so the
  /// operation can run fused.
  static func passesThrough(_ module: Module, slots: [String] = bmmSlots) -> Bool {
    slots.allSatisfy { slot in
      guard let q = module.quantizer(slot: slot) else { return true }
      return !q.isEnabled && (q as? TensorQuantizer)?.preQuantScale == nil
    }
  }

  /// `layer` on input codes → floats `[..shape.dropLast(), outFeatures]`.
  func floats(_ layer: Int8Linear, _ codes: [UInt8], rows: Int, shape: [Int]) -> Tensor {
    let out = [Float](unsafeUninitializedCapacity: rows * layer.outFeatures) { o, count in
      codes.withUnsafeBufferPointer { a in
        layer.run(
          a.baseAddress!, rows: rows, activation: .none, isa: instructionSet, out: o.baseAddress, codes: nil, ldCodes: 0,
          nextMultiplier: 0, nextMin: -128)
      }
      count = rows * layer.outFeatures
    }
    return Tensor(shape: Array(shape.dropLast()) + [layer.outFeatures], storage: out)
  }
}
