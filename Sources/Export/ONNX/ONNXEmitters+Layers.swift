import QATKit

extension ONNXExportContext {
  /// `value` through an elementwise activation: `relu`, `gelu` (exact, with `Erf`), `silu`,
  /// `tanh`, `sigmoid`.
  ///
  /// - Throws: ``ExportError/unsupported(layer:_:)`` for another name.
  public func activation(_ name: String, _ value: String) throws -> String {
    let s = shape(of: value)
    switch name {
    case "relu": return node("Relu", [value], shape: s)
    case "tanh": return node("Tanh", [value], shape: s)
    case "sigmoid": return node("Sigmoid", [value], shape: s)
    case "silu": return node("Mul", [value, node("Sigmoid", [value], shape: s)], shape: s)
    case "gelu":
      // 0.5 · x · (1 + erf(x / √2)), as QATKit and PyTorch compute it.
      let scaled = node("Mul", [value, constant("gelu.inv_sqrt2", floats: [0.70710678118654752], dims: [])], shape: s)
      let erf = node("Erf", [scaled], shape: s)
      let one = node("Add", [erf, constant("gelu.one", floats: [1], dims: [])], shape: s)
      let half = node("Mul", [value, constant("gelu.half", floats: [0.5], dims: [])], shape: s)
      return node("Mul", [half, one], shape: s)
    default:
      throw ExportError.unsupported(layer: layerName, "no ONNX form for activation '\(name)'")
    }
  }

  /// `Reshape` to `target` (`0` copies the input's dimension, `-1` infers one).
  public func reshape(_ value: String, _ target: [Int], shape: [Int]? = nil) -> String {
    node("Reshape", [value, constant("shape", int64s: target.map(Int64.init), dims: [target.count])], shape: shape)
  }

  /// `Transpose` with `perm`.
  public func transpose(_ value: String, _ perm: [Int]) -> String {
    let s = shape(of: value).map { sh in perm.map { sh[$0] } }
    return node("Transpose", [value], [ONNXAttribute("perm", .ints(perm.map(Int64.init)))], shape: s)
  }

  /// The linear layer `module` applied to `value` (input quantizer, `MatMul` with the
  /// transposed, dequantized weight, bias, output quantizer).
  public func linear(_ l: Linear, _ value: String) throws -> String {
    let x = try quantize(value, slot: "input_quantizer", of: l)
    let w = try weight(of: l, transposed: true)
    var outShape = shape(of: value)
    if outShape != nil { outShape![outShape!.count - 1] = l.outFeatures }
    var y = node("MatMul", [x, w], shape: outShape)
    if let b = l.bias { y = node("Add", [y, constant("bias", floats: b.scalars, dims: [b.count])], shape: outShape) }
    return try quantize(y, slot: "output_quantizer", of: l)
  }

  /// `MaxPool` / `AveragePool` with a square `kernel` and `stride` on `[N, C, H, W]`.
  public func pool(_ value: String, kernel: Int, stride: Int, max: Bool) -> String {
    var s = shape(of: value)
    if var sh = s, sh.count == 4 {
      sh[2] = (sh[2] - kernel) / stride + 1
      sh[3] = (sh[3] - kernel) / stride + 1
      s = sh
    }
    return node(
      max ? "MaxPool" : "AveragePool", [value],
      [ONNXAttribute("kernel_shape", .ints([Int64(kernel), Int64(kernel)])), ONNXAttribute("strides", .ints([Int64(stride), Int64(stride)]))],
      shape: s)
  }
}

extension ONNXExporter {
  /// Emitters of the built-in layers.
  mutating func registerBuiltinLayers() {
    register(Linear.self) { l, x, ctx in try ctx.linear(l, x) }
    register(Conv2d.self) { c, x, ctx in
      let xq = try ctx.quantize(x, slot: "input_quantizer", of: c)
      let w = try ctx.weight(of: c)
      let k = c.weight.shape[2]
      var inputs = [xq, w]
      if let b = c.bias { inputs.append(ctx.constant("bias", floats: b.scalars, dims: [b.count])) }
      var s = ctx.shape(of: x)
      if var sh = s, sh.count == 4 {
        sh[1] = c.weight.shape[0]
        sh[2] = (sh[2] + 2 * c.padding - k) / c.stride + 1
        sh[3] = (sh[3] + 2 * c.padding - k) / c.stride + 1
        s = sh
      }
      let p = Int64(c.padding)
      let y = ctx.node(
        "Conv", inputs,
        [
          ONNXAttribute("kernel_shape", .ints([Int64(k), Int64(k)])), ONNXAttribute("pads", .ints([p, p, p, p])),
          ONNXAttribute("strides", .ints([Int64(c.stride), Int64(c.stride)])),
        ], shape: s)
      return try ctx.quantize(y, slot: "output_quantizer", of: c)
    }
    register(Embedding.self) { e, ids, ctx in
      // Token ids arrive as int64 (or float, as QATKit's forward takes them); Gather needs integers.
      let w = try ctx.weight(of: e)
      let idShape = ctx.shape(of: ids)
      let idx = ctx.node("Cast", [ids], [ONNXAttribute("to", .int(Int64(ONNXDataType.int64.rawValue)))], shape: idShape)
      let y = ctx.node("Gather", [w, idx], shape: idShape.map { $0 + [e.weight.shape[1]] })
      return try ctx.quantize(y, slot: "output_quantizer", of: e)
    }
    register(LayerNorm.self) { n, x, ctx in
      ctx.require(opset: 17)
      return ctx.node(
        "LayerNormalization",
        [x, ctx.constant("weight", floats: n.weight.scalars, dims: [n.weight.count]), ctx.constant("bias", floats: n.bias.scalars, dims: [n.bias.count])],
        [ONNXAttribute("axis", .int(-1)), ONNXAttribute("epsilon", .float(n.eps))], shape: ctx.shape(of: x))
    }
    register(ReLU.self) { _, x, ctx in try ctx.activation("relu", x) }
    register(GELU.self) { _, x, ctx in try ctx.activation("gelu", x) }
    register(Dropout.self) { _, x, _ in x }
    register(Flatten.self) { f, x, ctx in
      guard f.startDim == 1 else {
        let s = ctx.shape(of: x).map { Array($0[..<f.startDim]) + [$0[f.startDim...].reduce(1, *)] }
        return ctx.reshape(x, [Int](repeating: 0, count: f.startDim) + [-1], shape: s)
      }
      let s = ctx.shape(of: x).map { [$0[0], $0.dropFirst().reduce(1, *)] }
      return ctx.node("Flatten", [x], [ONNXAttribute("axis", .int(1))], shape: s)
    }
    register(Sequential.self) { seq, x, ctx in
      var h = x
      for (name, layer) in seq.children() { h = try ctx.emit(layer, name: name, input: h) }
      return h
    }
  }
}
