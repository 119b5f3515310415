import Foundation
import QATKit
import QATRegistry
import Testing
@testable import QATExport

/// The protobuf writer and reader, and ONNX graphs checked structurally by parsing them back:
/// operators, opsets, initializers holding the quantizers' real codes and scales.
@Suite("ONNX export") struct ONNXTests {
  /// The PyTorch-trained FP32 digits MLP (64-256-256-10).
  static func digitsFP32() throws -> MLP {
    let fp32 = try SafeTensorsFile(contentsOf: fixtures().appendingPathComponent("models/mlp_digits_fp32.safetensors"))
    let model = MLP([64, 256, 256, 10])
    try model.loadStateDict(Dictionary(uniqueKeysWithValues: try fp32.names.map { ($0, try Tensor(fp32.floats($0), shape: fp32.info($0).shape)) }))
    return model
  }

  static func digitsMLP(_ config: QuantizeConfig) throws -> MLP {
    let model = try digitsFP32()
    var rng = RandomGenerator(seed: 11)
    let calib = Tensor.randn([64, 64], using: &rng)
    try convert(model, modes: [.quantize(config)], forwardLoop: { _ = $0(calib) })
    return model
  }

  /// Writes and parses back a model's graph.
  static func roundTrip(_ model: Module, inputShape: [Int] = [1, 64], exporter: ONNXExporter = .standard) throws -> (ONNXModel, ONNXExportReport) {
    let url = tempURL("model.onnx")
    let report = try exporter.write(model, to: url, inputShape: inputShape)
    return (try ONNXModel(bytes: [UInt8](try Data(contentsOf: url))), report)
  }

  static func initializer(_ m: ONNXModel, _ name: String) -> ONNXTensor { m.graph.initializers.first { $0.name == name }! }

  @Test func protobufWireFormat() throws {
    var w = Protobuf.Writer()
    w.int(1, 150)
    w.int(2, -1)
    w.string(3, "hi")
    w.float(4, 1.5)
    w.packedInts(5, [3, 270])
    // Field 1 varint 150 = 0x96 0x01; -1 is ten bytes of two's complement; 1.5f = 0x3FC00000.
    #expect(Array(w.bytes[0..<3]) == [0x08, 0x96, 0x01])
    #expect(Array(w.bytes[3..<14]) == [0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    #expect(Array(w.bytes[14..<18]) == [0x1A, 0x02, 0x68, 0x69])
    #expect(Array(w.bytes[18..<23]) == [0x25, 0x00, 0x00, 0xC0, 0x3F])
    #expect(Array(w.bytes[23...]) == [0x2A, 0x03, 0x03, 0x8E, 0x02])
    let f = try Protobuf.fields(w.bytes[...])
    #expect(f.map(\.number) == [1, 2, 3, 4, 5])
    #expect(try f[0].value.int() == 150)
    #expect(try f[1].value.int() == -1)
    #expect(try f[2].value.string() == "hi")
    #expect(try f[3].value.float() == 1.5)
    #expect(try f[4].value.ints() == [3, 270])
    #expect(throws: Protobuf.DecodingError.self) { try Protobuf.fields([0x0A, 0x05, 0x01][...]) }
    #expect(throws: ExportError.self) { try ONNXModel(bytes: [0x3A, 0x02, 0x0A]) }
  }

  /// INT8 W8A8 digits MLP: opset 13; per layer an input Q/DQ pair and a weight DQ whose
  /// initializer holds the transposed codes; scales `amax / 127`.
  @Test func int8DigitsMLP() throws {
    let model = try Self.digitsMLP(QuantizeConfig(preset: .int8))
    let (m, report) = try Self.roundTrip(model)
    #expect(m.opset == 13 && m.irVersion == 7)
    #expect(m.graph.inputs == [ONNXValueInfo(name: "input", elementType: .float, shape: [.param("N"), .value(64)])])
    #expect(m.graph.outputs == [ONNXValueInfo(name: "logits", elementType: .float, shape: [.param("N"), .value(10)])])
    #expect(report.operatorCounts == ["QuantizeLinear": 3, "DequantizeLinear": 6, "MatMul": 3, "Add": 3, "Relu": 2])
    let fc1 = model.layers[0]
    let codes = try fc1.quantizer(slot: "weight_quantizer")!.export(fc1.weight).gridValues()
    let w = Self.initializer(m, "fc1.weight_quantized")
    #expect(w.dataType == .int8 && w.dims == [64, 256])
    let stored = w.rawData.map { Float(Int8(bitPattern: $0)) }
    var transposedCodes = [Float](repeating: 0, count: codes.count)
    for o in 0..<256 { for i in 0..<64 { transposedCodes[i * 256 + o] = codes[o * 64 + i] } }
    #expect(stored == transposedCodes)
    let amax = (fc1.quantizer(slot: "weight_quantizer") as! TensorQuantizer).amax!.scalars
    #expect(Self.initializer(m, "fc1.weight_scale").floats == amax.map { $0 / 127 })
    let dq = m.graph.nodes.first { $0.inputs.first == "fc1.weight_quantized" }!
    #expect(dq.opType == "DequantizeLinear" && dq.attribute("axis") == .int(1))
    let inAmax = (fc1.quantizer(slot: "input_quantizer") as! TensorQuantizer).amax!.scalars[0]
    #expect(Self.initializer(m, "fc1.input_quantizer.scale").floats == [inAmax / 127])
    let zp = Self.initializer(m, "fc1.input_quantizer.zero_point")
    #expect(zp.dataType == .int8 && zp.rawData == [0] && zp.dims == [])
    #expect(m.graph.nodes.first?.opType == "QuantizeLinear" && m.graph.nodes.first?.inputs.first == "input")
  }

  /// INT4 weights in blocks: opset 21, INT4 codes packed two per byte (first in the low nibble)
  /// along the transposed `[in, out]` layout, `block_size` along axis 0.
  @Test func int4BlockWeights() throws {
    let model = try Self.digitsMLP(.weightsAndActivations(weights: .int(4, blockSize: 32), activations: nil))
    let (m, _) = try Self.roundTrip(model)
    #expect(m.opset == 21 && m.irVersion == 10)
    let fc2 = model.layers[1]
    let codes = try fc2.quantizer(slot: "weight_quantizer")!.export(fc2.weight).gridValues()
    let w = Self.initializer(m, "fc2.weight_quantized")
    #expect(w.dataType == .int4 && w.dims == [256, 256] && w.rawData.count == 256 * 256 / 2)
    func nibble(_ k: Int) -> Float {
      let byte = w.rawData[k / 2]
      let n: UInt8 = k % 2 == 0 ? byte & 0x0F : byte >> 4
      return Float(Int8(bitPattern: n << 4) >> 4)
    }
    var mismatches = 0
    for o in 0..<256 { for i in 0..<256 where nibble(i * 256 + o) != codes[o * 256 + i] { mismatches += 1 } }
    #expect(mismatches == 0)
    let dq = m.graph.nodes.first { $0.inputs.first == "fc2.weight_quantized" }!
    #expect(dq.attribute("block_size") == .int(32) && dq.attribute("axis") == .int(0))
    #expect(Self.initializer(m, "fc2.weight_scale").dims == [8, 256])
    #expect(!m.graph.nodes.contains { $0.opType == "QuantizeLinear" })
  }

  /// FP8: opset 19, E4M3 codes whose DequantizeLinear (code × scale) is the fake-quantized
  /// weight bit for bit; FP8 activation Q/DQ with a float8 zero point.
  @Test func fp8Weights() throws {
    let model = try Self.digitsMLP(QuantizeConfig(preset: .fp8))
    let (m, _) = try Self.roundTrip(model)
    #expect(m.opset == 19 && m.irVersion == 9)
    let fc3 = model.layers[2]
    let fake = Tensor.withoutGrad { fc3.quantizer(slot: "weight_quantizer")!(fc3.weight) }.scalars
    let w = Self.initializer(m, "fc3.weight_quantized")
    #expect(w.dataType == .float8e4m3fn && w.dims == [256, 10])
    let scale = Self.initializer(m, "fc3.weight_scale").floats[0]
    let deq = w.rawData.map { Minifloat.decode(UInt32($0), Minifloat.e4m3fn) * scale }
    var mismatches = 0
    for o in 0..<10 { for i in 0..<256 where deq[i * 10 + o] != fake[o * 256 + i] { mismatches += 1 } }
    #expect(mismatches == 0)
    #expect(Self.initializer(m, "fc3.input_quantizer.zero_point").dataType == .float8e4m3fn)
  }

  @Test func cnnAndTransformerGraphs() throws {
    var rng = RandomGenerator(seed: 3)
    let cnn = SmallCNN(seed: 1)
    let x = Tensor.randn([4, 64], using: &rng)
    try convert(cnn, modes: [.quantize(.int8)], forwardLoop: { _ = $0(x) })
    let (c, _) = try Self.roundTrip(cnn)
    #expect(c.opset == 13)
    let ops = Set(c.graph.nodes.map(\.opType))
    #expect(ops.isSuperset(of: ["Reshape", "Conv", "MaxPool", "Flatten", "QuantizeLinear", "DequantizeLinear"]))
    let conv = c.graph.nodes.first { $0.opType == "Conv" }!
    #expect(conv.attribute("pads") == .ints([1, 1, 1, 1]))
    #expect(Self.initializer(c, "conv1.weight_quantized").dims == [8, 1, 3, 3])
    let (c4, _) = try Self.roundTrip(cnn, inputShape: [2, 1, 8, 8])
    #expect(!c4.graph.nodes.contains { $0.opType == "Reshape" })

    let t = DigitsTransformer(dim: 16, heads: 2, seed: 2)
    let config = QuantizeConfig(preset: .int8).adding("*bmm_quantizer", .int(8))
    try convert(t, modes: [.quantize(config)], forwardLoop: { _ = $0(x) })
    let (g, report) = try Self.roundTrip(t)
    #expect(g.opset == 17)
    #expect(report.operatorCounts["LayerNormalization"] == 3)
    #expect(report.operatorCounts["Softmax"] == 1 && report.operatorCounts["Erf"] == 1)
    #expect(report.operatorCounts["ReduceMean"] == 1)
    // 8 Linear inputs (embed, query, key, value, out, fc1, fc2, head) + 4 attention matmul operands.
    #expect(report.operatorCounts["QuantizeLinear"] == 12)
    #expect(g.graph.nodes.contains { $0.name.hasPrefix("block.attention/QuantizeLinear") })
  }

  /// Embeddings: token ids are cast to int64 and gather rows of the dequantized INT8 table;
  /// the output quantizer is a Q/DQ pair.
  @Test func embeddingGraph() throws {
    let e = Embedding(12, 8, seed: 3)
    try quantize(e, weight: .int(8, axis: 0))
    let oq = try TensorQuantizer(attributes: .int(8))
    try oq.setAmax(Tensor(scalar: 3))
    e.setQuantizer(oq, slot: "output_quantizer")
    let (g, report) = try Self.roundTrip(Sequential([e]), inputShape: [1, 5])
    #expect(report.operatorCounts == ["Cast": 1, "Gather": 1, "DequantizeLinear": 2, "QuantizeLinear": 1])
    let gather = g.graph.nodes.first { $0.opType == "Gather" }!
    #expect(g.graph.nodes.first { $0.outputs == [gather.inputs[0]] }?.opType == "DequantizeLinear")
    #expect(Self.initializer(g, "0.weight_quantized").dims == [12, 8])
    #expect(g.graph.outputs[0].shape == [.param("N"), .value(5), .value(8)])
  }

  /// Typed graph inputs: int64 token ids `[N, T]` for an embedding, and a second input that an
  /// emitter reaches through the context (here to zero padded positions).
  @Test func severalTypedInputs() throws {
    let e = Embedding(12, 8, seed: 3)
    try quantize(e, weight: .int(8, axis: 0))
    var exporter = ONNXExporter.standard
    exporter.register(Masked.self) { m, ids, ctx in
      let h = try ctx.emit(m.embedding, name: "embedding", input: ids)
      guard let mask = ctx.graphInput("attention_mask") else { throw ExportError.unsupported(layer: ctx.layerName, "no mask") }
      let f = ctx.node("Cast", [mask], [ONNXAttribute("to", .int(Int64(ONNXDataType.float.rawValue)))])
      let m3 = ctx.node("Unsqueeze", [f, ctx.constant("axes", int64s: [2], dims: [1])])
      return ctx.node("Mul", [h, m3], shape: ctx.shape(of: h))
    }
    let tokens: [ONNXValueInfo] = ["input_ids", "attention_mask"].map {
      ONNXValueInfo(name: $0, elementType: .int64, shape: [.param("N"), .param("T")])
    }
    let g = try exporter.graph(for: Masked(e), inputs: tokens, outputName: "hidden")
    #expect(g.graph.inputs == tokens)
    #expect(g.graph.outputs[0].name == "hidden" && g.graph.outputs[0].shape.count == 3)
    #expect(g.graph.nodes.contains { $0.inputs.contains("attention_mask") })
    #expect(throws: ExportError.self) { try exporter.graph(for: Masked(e), inputs: [], outputName: "hidden") }
  }

  @Test func errorsNameTheLayer() throws {
    let plain = MLP([4, 4])
    #expect(throws: ExportError.noQuantizers("the model has no enabled quantizer, so its ONNX graph would hold no Q/DQ")) {
      try ONNXExporter.standard.write(plain, to: tempURL("x.onnx"), inputShape: [1, 4])
    }
    let nv = MLP([16, 8], seed: 1)
    try quantize(nv.layers[0], weight: QuantizerAttributes(format: .nvfp4))
    #expect { try ONNXExporter.standard.graph(for: nv, inputShape: [1, 16]) } throws: { e in
      guard case ExportError.unsupported(let layer, let msg) = e else { return false }
      return layer == "fc1" && msg.contains("nvfp4")
    }
    let dyn = MLP([16, 8], seed: 1)
    try quantize(dyn.layers[0], weight: .int(8, axis: 0), input: .int(8, dynamic: true))
    #expect { try ONNXExporter.standard.graph(for: dyn, inputShape: [1, 16]) } throws: { e in
      guard case ExportError.unsupported(let layer, let msg) = e else { return false }
      return layer == "fc1" && msg.contains("dynamic")
    }
    let seq = Sequential([Linear(4, 4), Tanhish()])
    try quantize(seq.layers[0], weight: .int(8, axis: 0))
    #expect { try ONNXExporter.standard.graph(for: seq, inputShape: [1, 4]) } throws: { e in
      guard case ExportError.unsupported(let layer, let msg) = e else { return false }
      return layer == "1" && msg.contains("no ONNX emitter for Tanhish")
    }
    // A registered emitter plugs the new layer in.
    var exporter = ONNXExporter.standard
    exporter.register(Tanhish.self) { _, x, ctx in try ctx.activation("tanh", x) }
    let (g, _) = try Self.roundTrip(seq, inputShape: [1, 4], exporter: exporter)
    #expect(g.graph.nodes.last?.opType == "Tanh" && g.graph.nodes.last?.outputs == ["logits"])
    // Output paths.
    let m = try Self.digitsMLP(QuantizeConfig(preset: .int8))
    let url = tempURL("m.onnx")
    try ONNXExporter.standard.write(m, to: url, inputShape: [1, 64])
    #expect(throws: ExportError.destinationExists(url.standardizedFileURL.path)) {
      try ONNXExporter.standard.write(m, to: url, inputShape: [1, 64])
    }
    try ONNXExporter.standard.write(m, to: url, inputShape: [1, 64], overwrite: true)
    #expect { try ONNXExporter.standard.write(m, to: tempURL("no/dir/m.onnx"), inputShape: [1, 64]) } throws: { e in
      if case ExportError.cannotWrite = e { return true }
      return false
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path) == ["m.onnx"])
  }
}

/// An embedding whose output is masked by a second graph input.
final class Masked: Module {
  @Child var embedding: Embedding
  init(_ e: Embedding) { embedding = e }
  override func forward(_ x: Tensor) -> Tensor { embedding(x) }
}

/// A layer without a built-in emitter.
final class Tanhish: Module {
  override init() {}
  override func forward(_ x: Tensor) -> Tensor { x.tanh() }
}
