public import QATExport
import QATKit

/// ONNX emitters of the BERT modules, plugged into QATExport's ``QATExport/ONNXExporter`` the
/// way any model library adds its layers (``QATExport/ONNXExporter/register(_:emit:)``), so
/// QATExport stays independent of the models it exports.
///
/// The graph of a ``BertModel`` takes `input_ids` and `attention_mask` (int64 `[N, T]`, both
/// dynamic) and returns, after ``BertModel/output``: `sentence_embedding` `[N, hidden]` (masked
/// mean over tokens, L2-normalized), the mean without normalization, or the last hidden state
/// `[N, T, hidden]`. Evaluation-mode semantics: dropout is the identity and the pooler, whose
/// output no embedding uses, is left out.
///
/// Every quantizer the forward pass applies becomes Q/DQ at the same place: Linear weights (codes
/// + `DequantizeLinear`) and inputs, the LayerNorm input / output quantizers (ModelOpt's
/// `QuantLayerNorm`), the embedding tables and outputs, and the attention matmul quantizers
/// (`q/k/v_bmm_quantizer` on the projections `[N, T, hidden]`, `p_bmm_quantizer` on the
/// probabilities). Padding is masked as in the forward pass: scores of padded keys get
/// `-3.4e38` added (PyTorch's `finfo.min`), so their probability is exactly 0.
extension ONNXExporter {
  /// The key under which the BERT model emitter shares the additive attention mask
  /// `[N, 1, 1, T]` with its attention layers (see ``QATExport/ONNXExportContext/share(_:as:)``).
  public static let bertAttentionMaskKey = "bert.attention_mask_bias"

  /// ``QATExport/ONNXExporter/standard`` plus the BERT emitters (``registerBert()``).
  public static var standardWithBert: ONNXExporter {
    var e = ONNXExporter.standard
    e.registerBert()
    return e
  }

  /// The graph inputs of a BERT model: `input_ids` and `attention_mask`, int64 `[N, T]`.
  public static var bertInputs: [ONNXValueInfo] {
    ["input_ids", "attention_mask"].map { ONNXValueInfo(name: $0, elementType: .int64, shape: [.param("N"), .param("T")]) }
  }

  /// The conventional name of `model`'s graph output: `sentence_embedding`, `mean_pooled` or
  /// `last_hidden_state`.
  public static func bertOutputName(_ model: BertModel) -> String {
    switch model.output {
    case .sentenceEmbedding: "sentence_embedding"
    case .meanPooled: "mean_pooled"
    case .lastHiddenState: "last_hidden_state"
    }
  }

  /// Registers the emitters of ``BertModel``, ``BertEmbeddings``, ``BertEncoder``,
  /// ``BertLayer``, ``BertAttention``, ``BertSelfAttention``, ``BertIntermediate`` and
  /// ``BertLayerNorm``.
  public mutating func registerBert() {
    register(BertModel.self) { m, ids, ctx in try ctx.bert(m, ids) }
    register(BertEmbeddings.self) { e, ids, ctx in try ctx.bertEmbeddings(e, ids) }
    register(BertEncoder.self) { enc, x, ctx in
      var h = x
      for (name, layer) in enc.children() { h = try ctx.emit(layer, name: name, input: h) }
      return h
    }
    register(BertLayer.self) { l, x, ctx in
      let a = try ctx.emit(l.attention, name: "attention", input: x)
      let i = try ctx.emit(l.intermediate, name: "intermediate", input: a)
      return try ctx.bertResidualOutput(dense: l.output.dense, layerNorm: l.output.layerNorm, prefix: "output", hidden: i, residual: a)
    }
    register(BertAttention.self) { a, x, ctx in
      let c = try ctx.emit(a.selfAttention, name: "self", input: x)
      return try ctx.bertResidualOutput(dense: a.output.dense, layerNorm: a.output.layerNorm, prefix: "output", hidden: c, residual: x)
    }
    register(BertSelfAttention.self) { a, x, ctx in try ctx.bertSelfAttention(a, x) }
    register(BertIntermediate.self) { m, x, ctx in try ctx.activation("gelu", try ctx.emit(m.dense, name: "dense", input: x)) }
    register(BertLayerNorm.self) { n, x, ctx in
      ctx.require(opset: 17)
      let xq = try ctx.quantize(x, slot: "input_quantizer", of: n)
      let y = ctx.node(
        "LayerNormalization",
        [xq, ctx.constant("weight", floats: n.weight.scalars, dims: [n.weight.count]),
         ctx.constant("bias", floats: n.bias.scalars, dims: [n.bias.count])],
        [ONNXAttribute("axis", .int(-1)), ONNXAttribute("epsilon", .float(n.eps))], shape: ctx.shape(of: x))
      return try ctx.quantize(y, slot: "output_quantizer", of: n)
    }
  }
}

extension ONNXExportContext {
  /// `ReduceSum` over `axis` (axes as an input, opset 13 and later).
  func reduceSum(_ value: String, axis: Int, keepDims: Bool, shape s: [Int]?) -> String {
    node("ReduceSum", [value, constant("axes", int64s: [Int64(axis)], dims: [1])], [ONNXAttribute("keepdims", .int(keepDims ? 1 : 0))], shape: s)
  }

  /// The whole model: embeddings, encoder with the padding mask, then the output head.
  func bert(_ m: BertModel, _ ids: String) throws -> String {
    guard let mask = graphInput("attention_mask") else {
      throw ExportError.unsupported(
        layer: layerName, "a BertModel graph needs the inputs input_ids and attention_mask (int64 [N, T]); use ONNXExporter.bertInputs")
    }
    let d = m.config.hiddenSize
    // The mask as float [N, T] and the additive key bias [N, 1, 1, T]: 0 for tokens, finfo.min for padding.
    let maskF = node("Cast", [mask], [ONNXAttribute("to", .int(Int64(ONNXDataType.float.rawValue)))], shape: [-1, -1])
    let padding = node("Sub", [constant("mask.one", floats: [1], dims: []), maskF], shape: [-1, -1])
    let bias = node("Mul", [padding, constant("mask.min", floats: [-Float.greatestFiniteMagnitude], dims: [])], shape: [-1, -1])
    share(reshape(bias, [0, 1, 1, -1], shape: [-1, 1, 1, -1]), as: ONNXExporter.bertAttentionMaskKey)
    defer { share(nil, as: ONNXExporter.bertAttentionMaskKey) }

    let e = try emit(m.embeddings, name: "embeddings", input: ids)
    let hidden = try emit(m.encoder, name: "encoder", input: e)
    if m.output == .lastHiddenState { return hidden }
    // Masked mean: sum of hidden · mask over tokens / max(token count, 1e-9), as sentence-transformers.
    let masked = node("Mul", [hidden, reshape(maskF, [0, 0, 1], shape: [-1, -1, 1])], shape: [-1, -1, d])
    let sum = reduceSum(masked, axis: 1, keepDims: false, shape: [-1, d])
    let count = reduceSum(maskF, axis: 1, keepDims: true, shape: [-1, 1])
    let pooled = node("Div", [sum, node("Max", [count, constant("pool.min_count", floats: [1e-9], dims: [])], shape: [-1, 1])], shape: [-1, d])
    if m.output == .meanPooled { return pooled }
    // x / max(‖x‖₂, 1e-12), PyTorch's F.normalize.
    let squares = node("Mul", [pooled, pooled], shape: [-1, d])
    let norm = node("Sqrt", [reduceSum(squares, axis: -1, keepDims: true, shape: [-1, 1])], shape: [-1, 1])
    return node("Div", [pooled, node("Max", [norm, constant("normalize.eps", floats: [1e-12], dims: [])], shape: [-1, 1])], shape: [-1, d])
  }

  /// Word + token type 0 + position embeddings (summed in that order), LayerNorm.
  func bertEmbeddings(_ e: BertEmbeddings, _ ids: String) throws -> String {
    let d = e.wordEmbeddings.weight.shape[1]
    let words = try emit(e.wordEmbeddings, name: "word_embeddings", input: ids)
    // Token type 0 for every token: one row [1, hidden], broadcast.
    let typeIds = constant("token_type_ids", int64s: [0], dims: [1])
    let tokenType = try emit(e.tokenTypeEmbeddings, name: "token_type_embeddings", input: typeIds)
    // Positions 0..<T, T read from the ids' shape.
    let t = node("Gather", [node("Shape", [ids], shape: [2]), constant("seq_axis", int64s: [1], dims: [])], shape: [])
    let positionIds = node("Range", [constant("zero", int64s: [0], dims: []), t, constant("one", int64s: [1], dims: [])], shape: [-1])
    let positions = try emit(e.positionEmbeddings, name: "position_embeddings", input: positionIds)
    let sum = node("Add", [node("Add", [words, tokenType], shape: [-1, -1, d]), positions], shape: [-1, -1, d])
    return try emit(e.layerNorm, name: "LayerNorm", input: sum)
  }

  /// `LayerNorm(dense(hidden) + residual)`: BERT's `attention.output` and `output` blocks.
  func bertResidualOutput(dense: Linear, layerNorm: BertLayerNorm, prefix: String, hidden: String, residual: String) throws -> String {
    let y = try emit(dense, name: "\(prefix).dense", input: hidden)
    let sum = node("Add", [y, residual], shape: shape(of: residual))
    return try emit(layerNorm, name: "\(prefix).LayerNorm", input: sum)
  }

  /// Masked multi-head self-attention with the matmul quantizers where the forward pass has them.
  func bertSelfAttention(_ a: BertSelfAttention, _ x: String) throws -> String {
    let d = a.query.outFeatures, h = a.heads, dh = d / h
    func heads(_ name: String, _ l: Linear, _ slot: String) throws -> String {
      let y = try quantize(try emit(l, name: name, input: x), slot: slot, of: a)
      return transpose(reshape(y, [0, 0, h, dh], shape: [-1, -1, h, dh]), [0, 2, 1, 3])
    }
    let q = try heads("query", a.query, "q_bmm_quantizer")
    let k = try heads("key", a.key, "k_bmm_quantizer")
    let v = try heads("value", a.value, "v_bmm_quantizer")
    let scoresShape = [-1, h, -1, -1]
    let raw = node("MatMul", [q, transpose(k, [0, 1, 3, 2])], shape: scoresShape)
    var scores = node("Mul", [raw, constant("scale", floats: [1 / Float(dh).squareRoot()], dims: [])], shape: scoresShape)
    if let bias = shared(ONNXExporter.bertAttentionMaskKey) { scores = node("Add", [scores, bias], shape: scoresShape) }
    let probs = node("Softmax", [scores], [ONNXAttribute("axis", .int(-1))], shape: scoresShape)
    let p = try quantize(probs, slot: "p_bmm_quantizer", of: a)
    let context = node("MatMul", [p, v], shape: [-1, h, -1, dh])
    return reshape(transpose(context, [0, 2, 1, 3]), [0, 0, d], shape: [-1, -1, d])
  }
}
