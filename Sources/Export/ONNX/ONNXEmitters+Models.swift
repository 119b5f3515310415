import QATKit

extension ONNXExportContext {
  /// Multi-head self-attention over `[N, T, D]` (no mask): the projections, the attention
  /// matmul quantizers (`q/k/v/p_bmm_quantizer`) as Q/DQ, softmax over keys, output projection.
  public func attention(_ a: MultiHeadAttention, _ x: String) throws -> String {
    let d = a.query.outFeatures, h = a.heads, dh = d / h
    let inShape = shape(of: x)
    func heads(_ name: String, _ l: Linear) throws -> String {
      let y = try emit(l, name: name, input: x)
      let split = reshape(y, [0, 0, h, dh], shape: inShape.map { [$0[0], $0[1], h, dh] })
      return transpose(split, [0, 2, 1, 3])
    }
    let q = try quantize(try heads("query", a.query), slot: "q_bmm_quantizer", of: a)
    let k = try quantize(try heads("key", a.key), slot: "k_bmm_quantizer", of: a)
    let v = try quantize(try heads("value", a.value), slot: "v_bmm_quantizer", of: a)
    let scoresShape = inShape.map { [$0[0], h, $0[1], $0[1]] }
    let kt = transpose(k, [0, 1, 3, 2])
    let raw = node("MatMul", [q, kt], shape: scoresShape)
    let scores = node("Mul", [raw, constant("scale", floats: [1 / Float(dh).squareRoot()], dims: [])], shape: scoresShape)
    let probs = node("Softmax", [scores], [ONNXAttribute("axis", .int(-1))], shape: scoresShape)
    let p = try quantize(probs, slot: "p_bmm_quantizer", of: a)
    let ctxv = node("MatMul", [p, v], shape: inShape.map { [$0[0], h, $0[1], dh] })
    let merged = reshape(transpose(ctxv, [0, 2, 1, 3]), [0, 0, d], shape: inShape)
    return try emit(a.out, name: "out", input: merged)
  }

  /// `ReduceMean` over one axis without keeping it (axes as an attribute before opset 18, an input from 18).
  public func mean(_ value: String, axis: Int, shape s: [Int]? = nil) -> String {
    if opset >= 18 {
      return node("ReduceMean", [value, constant("axes", int64s: [Int64(axis)], dims: [1])], [ONNXAttribute("keepdims", .int(0))], shape: s)
    }
    return node("ReduceMean", [value], [ONNXAttribute("axes", .ints([Int64(axis)])), ONNXAttribute("keepdims", .int(0))], shape: s)
  }
}

extension ONNXExporter {
  /// Emitters of the built-in models.
  mutating func registerBuiltinModels() {
    register(MLP.self) { m, x, ctx in
      var h = x
      for (i, layer) in m.layers.enumerated() {
        h = try ctx.emit(layer, name: "fc\(i + 1)", input: h)
        if i < m.layers.count - 1 { h = try ctx.activation("relu", h) }
      }
      return h
    }
    register(SmallCNN.self) { m, x, ctx in
      var img = x
      if let s = ctx.shape(of: x), s.count == 2 {
        guard s[1] == 64 else {
          throw ExportError.unsupported(layer: ctx.layerName, "SmallCNN takes [N, 64] or [N, 1, 8, 8] inputs, not \(s)")
        }
        img = ctx.reshape(x, [-1, 1, 8, 8], shape: [s[0], 1, 8, 8])
      }
      let h1 = ctx.pool(try ctx.activation("relu", try ctx.emit(m.conv1, name: "conv1", input: img)), kernel: 2, stride: 2, max: true)
      let h2 = ctx.pool(try ctx.activation("relu", try ctx.emit(m.conv2, name: "conv2", input: h1)), kernel: 2, stride: 2, max: true)
      let flat = ctx.node("Flatten", [h2], [ONNXAttribute("axis", .int(1))], shape: ctx.shape(of: h2).map { [$0[0], $0.dropFirst().reduce(1, *)] })
      return try ctx.emit(m.fc, name: "fc", input: flat)
    }
    register(MultiHeadAttention.self) { a, x, ctx in try ctx.attention(a, x) }
    register(TransformerEncoderBlock.self) { b, x, ctx in
      let s = ctx.shape(of: x)
      let n1 = try ctx.emit(b.norm1, name: "norm1", input: x)
      let h = ctx.node("Add", [x, try ctx.emit(b.attention, name: "attention", input: n1)], shape: s)
      let n2 = try ctx.emit(b.norm2, name: "norm2", input: h)
      let f1 = try ctx.activation("gelu", try ctx.emit(b.fc1, name: "fc1", input: n2))
      return ctx.node("Add", [h, try ctx.emit(b.fc2, name: "fc2", input: f1)], shape: s)
    }
    register(DigitsTransformer.self) { m, x, ctx in
      let n = ctx.shape(of: x)?[0] ?? -1
      let tokens = ctx.reshape(x, [-1, 8, 8], shape: [n, 8, 8])
      let e = try ctx.emit(m.embed, name: "embed", input: tokens)
      let dim = m.position.shape[1]
      let pos = ctx.node("Add", [e, ctx.constant("position", floats: m.position.scalars, dims: m.position.shape)], shape: [n, 8, dim])
      let h = try ctx.emit(m.block, name: "block", input: pos)
      let pooled = ctx.mean(h, axis: 1, shape: [n, dim])
      return try ctx.emit(m.head, name: "head", input: try ctx.emit(m.norm, name: "norm", input: pooled))
    }
  }
}
