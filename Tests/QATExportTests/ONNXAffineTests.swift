import Foundation
import QATKit
import QATPlugins
import QATRegistry
import Testing
@testable import QATExport

/// Asymmetric (affine, plugin `Affine`) quantizers in ONNX: zero points written next to the
/// scales in the codes' type, per tensor (activations, opset 13), per channel (weights, opset
/// 13) and per block (opset 21, UINT4 / INT4 with `block_size`); `DequantizeLinear`'s `(q − zp)
/// · scale` gives the fake-quantized weight bit for bit. The unified checkpoint has no place
/// for zero points and refuses them, naming the layer.
@Suite("ONNX export: asymmetric integers") struct ONNXAffineTests {
  static func affine(_ format: QuantFormat, axis: Int? = nil, blockSize: Int? = nil) -> QuantizerAttributes {
    QuantizerAttributes(format: format, axis: axis, blockSize: blockSize, algorithm: "affine")
  }

  /// The digits MLP with `config`, calibrated on digits training rows (post-ReLU activations
  /// are non-negative, so uint8 zero points of fc2/fc3 are 0 while fc1's inputs are not).
  static func mlp(_ config: QuantizeConfig) throws -> MLP {
    let model = try ONNXTests.digitsFP32()
    var rng = RandomGenerator(seed: 5)
    let calib = Tensor.randn([64, 64], using: &rng)
    try convert(model, modes: [.quantize(config)], registry: InTreePlugins.registry, forwardLoop: { _ = $0(calib) })
    return model
  }

  /// `values[r * cols + c]` stored as `[cols, rows]`.
  static func transposed(_ values: [Float], rows: Int, cols: Int) -> [Float] {
    var out = values
    for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = values[r * cols + c] } }
    return out
  }

  /// uint8 activations per tensor and int8 weights per channel: zero points in the right
  /// types and shapes, equal to the quantizers' calibrated ones; the weight DequantizeLinear
  /// reproduces the fake-quantized weight bit for bit.
  @Test func uint8ActivationsAndPerChannelInt8Weights() throws {
    let model = try Self.mlp(.weightsAndActivations(weights: Self.affine(.int(bits: 8, signed: true), axis: 0), activations: Self.affine(.int(bits: 8, signed: false))))
    let (m, report) = try ONNXTests.roundTrip(model)
    #expect(m.opset == 13)
    #expect(report.operatorCounts["QuantizeLinear"] == 3 && report.operatorCounts["DequantizeLinear"] == 6 && report.operatorCounts["Clip"] == nil)
    let fc1 = model.layers[0]
    let wq = fc1.quantizer(slot: "weight_quantizer")!
    let state = Dictionary(uniqueKeysWithValues: wq.stateTensors())
    let w = ONNXTests.initializer(m, "fc1.weight_quantized")
    let s = ONNXTests.initializer(m, "fc1.weight_scale")
    let zp = ONNXTests.initializer(m, "fc1.weight_zero_point")
    #expect(w.dataType == .int8 && w.dims == [64, 256])
    #expect(zp.dataType == .int8 && zp.dims == [256] && s.dims == [256])
    #expect(s.floats == state["_scale"]!.scalars)
    let zeroPoints = zp.rawData.map { Float(Int8(bitPattern: $0)) }
    #expect(zeroPoints == state["_zero_point"]!.scalars)
    #expect(Set(zeroPoints).count > 1, "per-channel zero points differ")
    let dq = m.graph.nodes.first { $0.inputs.first == "fc1.weight_quantized" }!
    #expect(dq.opType == "DequantizeLinear" && dq.inputs == ["fc1.weight_quantized", "fc1.weight_scale", "fc1.weight_zero_point"])
    #expect(dq.attribute("axis") == .int(1))
    // DequantizeLinear: (q − zp) · scale along axis 1 of the [in, out] codes.
    let codes = w.rawData.map { Float(Int8(bitPattern: $0)) }
    let scales = s.floats
    var deq = [Float](repeating: 0, count: codes.count)
    for i in 0..<64 { for o in 0..<256 { deq[i * 256 + o] = (codes[i * 256 + o] - zeroPoints[o]) * scales[o] } }
    let fake = Tensor.withoutGrad { wq(fc1.weight) }.scalars
    #expect(deq.map(\.bitPattern) == Self.transposed(fake, rows: 256, cols: 64).map(\.bitPattern))
    // Activations: uint8 zero points, the calibrated ones; fc1's inputs (randn) straddle 0.
    for (i, layer) in ["fc1", "fc2", "fc3"].enumerated() {
      let iq = Dictionary(uniqueKeysWithValues: model.layers[i].quantizer(slot: "input_quantizer")!.stateTensors())
      let z = ONNXTests.initializer(m, "\(layer).input_quantizer.zero_point")
      #expect(z.dataType == .uint8 && z.dims == [] && z.rawData == [UInt8(iq["_zero_point"]!.scalars[0])])
      #expect(ONNXTests.initializer(m, "\(layer).input_quantizer.scale").floats == iq["_scale"]!.scalars)
    }
    #expect(ONNXTests.initializer(m, "fc1.input_quantizer.zero_point").rawData[0] > 0)
  }

  /// uint4 weights in blocks of 16: opset 21, UINT4 codes and UINT4 zero points packed two per
  /// byte (first in the low nibble), `[in/16, out]` like the scales; uint4 activations per
  /// tensor clip to `[(0 − zp)·s, (15 − zp)·s]` before a UINT8 Q/DQ.
  @Test func uint4BlocksAndUint4Activations() throws {
    let model = try Self.mlp(.weightsAndActivations(weights: Self.affine(.int(bits: 4, signed: false), blockSize: 16), activations: Self.affine(.int(bits: 4, signed: false))))
    let (m, report) = try ONNXTests.roundTrip(model)
    #expect(m.opset == 21)
    #expect(report.operatorCounts["Clip"] == 3)
    let fc2 = model.layers[1]
    let wq = fc2.quantizer(slot: "weight_quantizer")!
    let qt = try wq.export(fc2.weight)
    let w = ONNXTests.initializer(m, "fc2.weight_quantized")
    let zp = ONNXTests.initializer(m, "fc2.weight_zero_point")
    let s = ONNXTests.initializer(m, "fc2.weight_scale")
    #expect(w.dataType == .uint4 && w.dims == [256, 256] && w.rawData.count == 256 * 256 / 2)
    #expect(zp.dataType == .uint4 && zp.dims == [16, 256] && zp.rawData.count == 16 * 256 / 2 && s.dims == [16, 256])
    func nibble(_ bytes: [UInt8], _ k: Int) -> Float { Float(k % 2 == 0 ? bytes[k / 2] & 0x0F : bytes[k / 2] >> 4) }
    let zeroPoints = (0..<(16 * 256)).map { nibble(zp.rawData, $0) }
    #expect(zeroPoints == Self.transposed(qt.zeroPoints, rows: 256, cols: 16))
    #expect(Set(zeroPoints).count > 1)
    let dq = m.graph.nodes.first { $0.inputs.first == "fc2.weight_quantized" }!
    #expect(dq.attribute("block_size") == .int(16) && dq.attribute("axis") == .int(0) && dq.inputs.count == 3)
    let fake = Self.transposed(Tensor.withoutGrad { wq(fc2.weight) }.scalars, rows: 256, cols: 256)
    let scales = s.floats
    var mismatches = 0
    for i in 0..<256 {
      for o in 0..<256 {
        let g = (i / 16) * 256 + o
        if (nibble(w.rawData, i * 256 + o) - zeroPoints[g]) * scales[g] != fake[i * 256 + o] { mismatches += 1 }
      }
    }
    #expect(mismatches == 0)
    let iq = Dictionary(uniqueKeysWithValues: model.layers[0].quantizer(slot: "input_quantizer")!.stateTensors())
    let (scale, z) = (iq["_scale"]!.scalars[0], iq["_zero_point"]!.scalars[0])
    #expect(ONNXTests.initializer(m, "fc1.input_quantizer.min").floats == [(0 - z) * scale])
    #expect(ONNXTests.initializer(m, "fc1.input_quantizer.max").floats == [(15 - z) * scale])
  }

  /// What ONNX or the unified checkpoint cannot hold: per-channel asymmetric activations
  /// (ONNX), and every zero point in the unified checkpoint (no directory left behind).
  @Test func refusals() throws {
    let perChannelInputs = try Self.mlp(.weightsAndActivations(weights: nil, activations: Self.affine(.int(bits: 8, signed: false), axis: -1)))
    #expect { try ONNXTests.roundTrip(perChannelInputs) } throws: { e in
      guard case ExportError.unsupported(let layer, let msg) = e else { return false }
      return layer == "fc1" && msg.contains("per-channel")
    }
    let model = try Self.mlp(.weightsAndActivations(weights: Self.affine(.int(bits: 8, signed: true), axis: 0), activations: nil))
    let dir = tempURL("affine-unified")
    #expect { try UnifiedCheckpoint.write(model, to: dir) } throws: { e in
      guard case ExportError.unsupported(let layer, let msg) = e else { return false }
      return layer == "fc1" && msg.contains("zero points")
    }
    #expect(!FileManager.default.fileExists(atPath: dir.path))
  }
}
