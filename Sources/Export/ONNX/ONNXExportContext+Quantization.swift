public import QATKit

extension ONNXExportContext {
  /// `value` through the quantizer in `module`'s `slot` as a `QuantizeLinear` →
  /// `DequantizeLinear` pair (the identity when the slot is empty or disabled).
  ///
  /// Static per-tensor ranges only: INT (any width ≤ 8; narrower widths and narrow range add
  /// a `Clip` to the code range before an INT8 / UINT8 Q/DQ) with scale `amax / maxBound` and
  /// zero point 0 (opset 13), FP8 E4M3 / E5M2 with scale `amax / maxBound` (opset 19);
  /// asymmetric (affine) integers with their calibrated scale and zero point (opset 13,
  /// UINT8 / INT8 zero point). A `pre_quant_scale` becomes a `Mul` first.
  ///
  /// - Throws: ``ExportError/unsupported(layer:_:)`` for dynamic or per-channel activation
  ///   ranges and block formats (NVFP4, MX), which `QuantizeLinear` cannot express.
  public func quantize(_ value: String, slot: String, of module: Module) throws -> String {
    guard let q = module.quantizer(slot: slot) else { return value }
    let a = q.attributes
    func fail(_ m: String) -> ExportError { .unsupported(layer: layerName, "\(slot): \(m)") }
    var x = value
    // A disabled quantizer still applies its pre_quant_scale (AWQ on weight-only layers).
    if let pqs = (q as? TensorQuantizer)?.preQuantScale {
      let s = constant("\(slot).pre_quant_scale", floats: pqs.scalars, dims: [pqs.count])
      x = node("Mul", [x, s], shape: shape(of: value))
    }
    guard q.isEnabled else { return x }
    if let zeroPoint = q.stateTensors().first(where: { $0.0 == "_zero_point" })?.1 {
      return try affineQuantize(x, shape: shape(of: value), slot: slot, quantizer: q, zeroPoint: zeroPoint)
    }
    guard !a.format.isBlockScaled else {
      throw fail("\(a.format) activations have no standard QuantizeLinear form (dynamic block scales); quantize activations with INT8 or FP8 for ONNX")
    }
    guard !a.dynamic else {
      throw fail("dynamic activation ranges cannot be written as QuantizeLinear with a fixed scale; calibrate a static range")
    }
    guard let amaxT = q.stateTensors().first(where: { $0.0 == "_amax" })?.1 else {
      throw fail("the quantizer has no calibrated range; calibrate it before exporting")
    }
    guard amaxT.count == 1 else {
      throw fail("per-channel activation ranges (\(a.granularity)) are not supported in ONNX; use a per-tensor range")
    }
    let amax = amaxT.scalars[0]
    let out = shape(of: value)
    if amax <= QuantCodec.tinyAmax {
      // QATKit (and ModelOpt) quantize everything to 0 for such a range.
      return node("Mul", [x, constant("\(slot).zero", floats: [0], dims: [])], shape: out)
    }
    let scale = amax / a.format.maxBound
    let s = constant("\(slot).scale", floats: [scale], dims: [])
    switch a.format {
    case .int(let bits, let signed):
      let (lo, hi) = QuantCodec.intBounds(bits: bits, signed: signed, narrow: a.narrowRange)
      let fullLo: Float = signed ? -128 : 0, fullHi: Float = signed ? 127 : 255
      if lo != fullLo || hi != fullHi {
        x = node("Clip", [x, constant("\(slot).min", floats: [lo * scale], dims: []), constant("\(slot).max", floats: [hi * scale], dims: [])], shape: out)
      }
      let zp = initializer("\(slot).zero_point", signed ? .int8 : .uint8, dims: [], raw: [0])
      let qv = node("QuantizeLinear", [x, s, zp], shape: out)
      return node("DequantizeLinear", [qv, s, zp], shape: out)
    case .e4m3, .e5m2:
      require(opset: 19)
      let zp = initializer("\(slot).zero_point", a.format == .e4m3 ? .float8e4m3fn : .float8e5m2, dims: [], raw: [0])
      // Relu → Q/DQ is written as Q/DQ → Relu (the same values: symmetric Q/DQ with zero
      // point 0 keeps signs and maps 0 to 0). onnxruntime's Relu→QuantizeLinear fusion
      // (ReluQuantFusion, optimization level 2) drops a Relu before an FP8 QuantizeLinear,
      // as if its zero point were the bottom of an unsigned range (onnxruntime 1.32).
      if x == value, let relu = popLastNode("Relu", producing: x) {
        let qv = node("QuantizeLinear", [relu.inputs[0], s, zp], shape: out)
        return node("Relu", [node("DequantizeLinear", [qv, s, zp], shape: out)], shape: out)
      }
      let qv = node("QuantizeLinear", [x, s, zp], shape: out)
      return node("DequantizeLinear", [qv, s, zp], shape: out)
    default:
      throw fail("\(a.format) activations are not supported in ONNX")
    }
  }

  /// The parameter `name` of `module` as a graph value: a float initializer, or, when the
  /// module's `<name>_quantizer` is enabled, its real codes (INT8 / UINT8 per tensor or per
  /// channel at opset 13, INT4 / UINT4 / INT8 blocks at opset 21 with `block_size`, FP8
  /// E4M3 / E5M2 at opset 19) and a `DequantizeLinear`; asymmetric (affine) codes carry their
  /// zero points as its third input, in the codes' type and the scales' shape. `transposed` stores a 2-D weight as
  /// `[in, out]` for `MatMul`.
  ///
  /// The dequantized weight equals the quantizer's fake-quantized weight bit for bit for FP8
  /// (the scale is the factor QATKit multiplies by) and within a few ulp for integers (ONNX
  /// computes `q · (amax/maxBound)`, QATKit `q / (maxBound/amax)`).
  ///
  /// - Throws: ``ExportError/unsupported(layer:_:)`` for NVFP4 / MX weights (no standard
  ///   Q/DQ form up to opset 21) and granularities the layout cannot express.
  public func weight(of module: Module, name: String = "weight", transposed: Bool = false) throws -> String {
    guard let w = module.ownParameters().first(where: { $0.0 == name })?.1 else {
      throw ExportError.unsupported(layer: layerName, "has no parameter '\(name)'")
    }
    if transposed { precondition(w.rank == 2, "transposed weights are 2-D") }
    let outShape = transposed ? [w.shape[1], w.shape[0]] : w.shape
    func transpose<T>(_ v: [T], rows: Int, cols: Int) -> [T] {
      var out = v
      for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = v[r * cols + c] } }
      return out
    }
    guard let q = module.quantizer(slot: "\(name)_quantizer"), q.isEnabled else {
      let v = transposed ? transpose(w.scalars, rows: w.shape[0], cols: w.shape[1]) : w.scalars
      return constant(name, floats: v, dims: outShape)
    }
    let a = q.attributes
    func fail(_ m: String) -> ExportError { .unsupported(layer: layerName, "\(name)_quantizer: \(m)") }
    if a.format.isBlockScaled {
      throw fail("\(a.format) weights have no standard DequantizeLinear form up to opset 21 (two-level block scales); use INT8, INT4 blocks or FP8 for ONNX")
    }
    let qt: QuantizedTensor
    do { qt = try q.export(w) } catch { throw fail("cannot export codes: \(error)") }
    let fake = Tensor.withoutGrad { q(w) }.scalars
    let deq = qt.dequantize().scalars
    if let i = fake.indices.first(where: { fake[$0] != deq[$0] }) {
      throw ExportError.verificationFailed("\(layerName).\(name): codes dequantize to \(deq[i]) at element \(i), the fake-quantized weight is \(fake[i])")
    }
    let grid = qt.gridValues()
    let rows = w.shape[0], cols = w.count / Swift.max(rows, 1)
    let codes = transposed ? transpose(grid, rows: rows, cols: cols) : grid

    // Scales per group, in the layout of the stored codes.
    var scaleDims: [Int] = []
    var attributes: [ONNXAttribute] = []
    var scales: [Float]
    let factor: (Float) -> Float
    switch a.format {
    case .int: factor = { $0 / a.format.maxBound }
    default: factor = { $0 > QuantCodec.tinyAmax ? 1 / ((1 / $0) * a.format.maxBound) : 0 }
    }
    scales = qt.isAffine ? qt.affineScales : qt.amax.map(factor)
    var zeroPoints = qt.zeroPoints
    switch qt.granularity {
    case .perTensor:
      break
    case .perChannel(let axis):
      guard (axis == 0 || axis == w.rank - 1) || !transposed else { throw fail("per-channel axis \(axis) of a transposed weight") }
      let stored = transposed ? 1 - axis : axis
      scaleDims = [outShape[stored]]
      attributes = [ONNXAttribute("axis", .int(Int64(stored)))]
    case .perBlock(let b):
      require(opset: 21)
      if transposed {
        // Blocks run along the input axis, which is axis 0 once transposed.
        scales = transpose(scales, rows: rows, cols: cols / b)
        if qt.isAffine { zeroPoints = transpose(zeroPoints, rows: rows, cols: cols / b) }
        scaleDims = [cols / b, rows]
        attributes = [ONNXAttribute("axis", .int(0)), ONNXAttribute("block_size", .int(Int64(b)))]
      } else {
        scaleDims = Array(w.shape.dropLast()) + [w.shape.last! / b]
        attributes = [ONNXAttribute("axis", .int(Int64(w.rank - 1))), ONNXAttribute("block_size", .int(Int64(b)))]
      }
    }
    let type: ONNXDataType
    var raw: [UInt8]
    switch a.format {
    case .int(let bits, let signed):
      let blocked: Bool = if case .perBlock = qt.granularity { true } else { false }
      if blocked && bits <= 4 {
        type = signed ? .int4 : .uint4
        raw = Self.nibbles(codes)
      } else {
        type = signed ? .int8 : .uint8
        raw = codes.map { UInt8(truncatingIfNeeded: Int($0)) }
      }
    case .e4m3:
      require(opset: 19)
      type = .float8e4m3fn
      raw = codes.map { UInt8(Minifloat.encode($0, Minifloat.e4m3fn)) }
    case .e5m2:
      require(opset: 19)
      type = .float8e5m2
      raw = codes.map { UInt8(Minifloat.encode($0, Minifloat.e5m2)) }
    default:
      throw fail("\(a.format) weights are not supported in ONNX")
    }
    let c = initializer("\(name)_quantized", type, dims: outShape, raw: raw)
    let s = constant("\(name)_scale", floats: scales, dims: scaleDims)
    guard qt.isAffine else { return node("DequantizeLinear", [c, s], attributes, shape: outShape) }
    // Asymmetric codes: the zero points in the codes' type, one per scale.
    let zpRaw = type == .int4 || type == .uint4 ? Self.nibbles(zeroPoints) : zeroPoints.map { UInt8(truncatingIfNeeded: Int($0)) }
    let zp = initializer("\(name)_zero_point", type, dims: scaleDims, raw: zpRaw)
    return node("DequantizeLinear", [c, s, zp], attributes, shape: outShape)
  }

  /// Integer values packed two per byte, the first in the low nibble (ONNX INT4 / UINT4).
  static func nibbles(_ values: [Float]) -> [UInt8] {
    var raw = [UInt8](repeating: 0, count: (values.count + 1) / 2)
    for (i, c) in values.enumerated() {
      let nibble = UInt8(truncatingIfNeeded: Int(c)) & 0x0F
      raw[i / 2] |= i % 2 == 0 ? nibble : nibble << 4
    }
    return raw
  }

  /// `x` through an asymmetric (affine) per-tensor quantizer with a calibrated scale and zero
  /// point: `QuantizeLinear` / `DequantizeLinear` with that scale and a UINT8 (`uint<b>`) or
  /// INT8 (`int<b>`) zero point, opset 13 — ONNX's `saturate(round(x / scale) + zero_point)` and
  /// `(q − zero_point) · scale`, PyTorch's affine fake quantization. Widths below 8 (and
  /// narrow signed ranges) clip `x` to the code range first, `[(quantMin − zp)·s, (quantMax − zp)·s]`.
  private func affineQuantize(_ x: String, shape out: [Int]?, slot: String, quantizer q: any Quantizer, zeroPoint: Tensor) throws -> String {
    let a = q.attributes
    func fail(_ m: String) -> ExportError { .unsupported(layer: layerName, "\(slot): \(m)") }
    guard case .int(let bits, let signed) = a.format, bits <= 8 else {
      throw fail("asymmetric \(a.format) activations are not supported in ONNX (integers of at most 8 bits are)")
    }
    guard let scaleT = q.stateTensors().first(where: { $0.0 == "_scale" })?.1, scaleT.count == zeroPoint.count else {
      throw fail("the asymmetric quantizer has a zero point but no scale of the same shape")
    }
    guard scaleT.count == 1 else {
      throw fail("per-channel or per-block asymmetric activation ranges (\(a.granularity)) are not supported in ONNX; use a per-tensor range")
    }
    let scale = scaleT.scalars[0], zp = zeroPoint.scalars[0]
    let (quantMin, quantMax): (Float, Float)
    if signed {
      let hi = Float((1 << (bits - 1)) - 1)
      (quantMin, quantMax) = (a.narrowRange ? -hi : -hi - 1, hi)
    } else {
      (quantMin, quantMax) = (0, Float((1 << bits) - 1))
    }
    guard scale > 0, scale.isFinite, zp == zp.rounded(), zp >= quantMin, zp <= quantMax else {
      throw fail("scale \(scale) / zero point \(zp) are not a valid affine range for \(a.format)")
    }
    var x = x
    let fullLo: Float = signed ? -128 : 0, fullHi: Float = signed ? 127 : 255
    if quantMin != fullLo || quantMax != fullHi {
      let lo = constant("\(slot).min", floats: [(quantMin - zp) * scale], dims: [])
      let hi = constant("\(slot).max", floats: [(quantMax - zp) * scale], dims: [])
      x = node("Clip", [x, lo, hi], shape: out)
    }
    let s = constant("\(slot).scale", floats: [scale], dims: [])
    let z = initializer("\(slot).zero_point", signed ? .int8 : .uint8, dims: [], raw: [UInt8(truncatingIfNeeded: Int(zp))])
    let qv = node("QuantizeLinear", [x, s, z], shape: out)
    return node("DequantizeLinear", [qv, s, z], shape: out)
  }
}
