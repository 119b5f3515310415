import Foundation
import QATKit
import Testing
@testable import QATExport

/// Every format's packing in the unified checkpoint, against hand-computed bytes and against
/// the codes of the PyTorch + ModelOpt golden vectors.
@Suite("Unified checkpoint: packing") struct UnifiedPackingTests {
  /// A one-layer model, exported; returns the re-read safetensors of the directory.
  static func export(_ layer: Linear) throws -> (SafeTensorsFile, UnifiedExportReport) {
    let model = Node([("fc", layer)])
    let dir = tempURL("export")
    let report = try UnifiedCheckpoint.write(model, to: dir)
    return (try SafeTensorsFile(contentsOf: dir.appendingPathComponent("model.safetensors")), report)
  }

  static func directory(_ layer: Linear) throws -> URL {
    let dir = tempURL("export")
    try UnifiedCheckpoint.write(Node([("fc", layer)]), to: dir)
    return dir
  }

  static func linear(_ rows: [[Float]]) throws -> Linear {
    let l = Linear(rows[0].count, rows.count, seed: 1)
    try l.weight.assign(Tensor(rows: rows))
    return l
  }

  @Test func int4NibblesAlongRows() {
    // Rows (1, -8) share a byte per column, low nibble first; two's complement codes.
    let q: [Int8] = [1, -1, -8, 7, 0, 3, -2, 5]
    let packed = Nibbles.packAlongRows(q, rows: 4, cols: 2)
    #expect(packed == [0x81, 0x7F, 0xE0, 0x53])
    #expect(Nibbles.unpackAlongRows(packed, packedRows: 2, cols: 2) == q)
    #expect(Nibbles.unpackAlongLastAxis([0x7E, 0x01]) == [0xE, 0x7, 0x1, 0x0])
  }

  @Test func w4a16HandComputed() throws {
    // Every block's range is 7, so the step is 1 and the codes are the weights.
    let l = try Self.linear([[1, -2, 3, 7], [-7, 0, 2, -1]])
    try quantize(l, weight: .int(4, blockSize: 4))
    let (f, report) = try Self.export(l)
    #expect(try f.info("fc.weight").dtype == .u8)
    #expect(try f.info("fc.weight").shape == [1, 4])
    #expect(try f.rawBytes("fc.weight") == [0x91, 0x0E, 0x23, 0xF7])
    #expect(try f.info("fc.weight_scale").shape == [2, 1])
    #expect(try f.floats("fc.weight_scale") == [1, 1])
    #expect(try f.floats("fc.pre_quant_scale") == [1, 1, 1, 1])
    #expect(report.layers == [UnifiedExportedLayer(path: "fc", algorithm: .w4a16AWQ, groupSize: 4)])
  }

  @Test func int8HandComputed() throws {
    // Ranges 1 and 2 per row: steps 1/127 and 2/127; ties round to even (63.5 → 64).
    let l = try Self.linear([[0.5, -1, 0.25], [2, -2, 1]])
    try quantize(l, weight: .int(8, axis: 0))
    let (f, report) = try Self.export(l)
    #expect(try f.info("fc.weight").dtype == .i8)
    #expect(try f.rawBytes("fc.weight") == [64, 0x81, 32, 127, 0x81, 64])
    #expect(try f.floats("fc.weight_scale") == [1 / 127, 2 / 127])
    #expect(report.quantAlgo == "W8A16")
    #expect(report.maxULPDistance <= 4)
  }

  @Test func fp8HandComputed() throws {
    // Range 448: scale 1. 1.0625 ties to 1 (0x38), 17 ties to 16 (0x58), -448 is 0xFE, 2^-9 the
    // smallest subnormal (0x01).
    let l = try Self.linear([[1.0625, 17], [-448, 0.001953125]])
    try quantize(l, weight: QuantizerAttributes(format: .e4m3), input: QuantizerAttributes(format: .e4m3), inputAmax: 4.48)
    let (f, report) = try Self.export(l)
    #expect(try f.info("fc.weight").dtype == .f8E4M3)
    #expect(try f.rawBytes("fc.weight") == [0x38, 0x58, 0xFE, 0x01])
    #expect(try f.info("fc.weight_scale").shape == [])
    #expect(try f.floats("fc.input_scale") == [Float(4.48) / 448])
    #expect(report.quantAlgo == "FP8")
    #expect(report.maxULPDistance == 0)
  }

  @Test func mxfp4HandComputed() throws {
    // Row 0: block max 6 → scale 2^0 (E8M0 127), 6 → code 7, 1.5 → code 3.
    // Row 1: block max 0.5 → scale 2^-3 (code 124), -0.5 / 2^-3 = -4 → code 0b1110.
    var r0 = [Float](repeating: 1.5, count: 32)
    r0[0] = 6
    var r1 = [Float](repeating: 0, count: 32)
    r1[0] = -0.5
    let l = try Self.linear([r0, r1])
    try quantize(l, weight: QuantizerAttributes(format: .mxfp4))
    let (f, _) = try Self.export(l)
    let w = try f.rawBytes("fc.weight")
    #expect(try f.info("fc.weight").shape == [2, 16])
    #expect(Array(w[0..<2]) == [0x37, 0x33])
    #expect(Array(w[16..<18]) == [0x0E, 0x00])
    #expect(try f.rawBytes("fc.weight_scale") == [127, 124])
    #expect(try f.info("fc.weight_scale").dtype == .u8)
  }

  @Test func nvfp4HandComputed() throws {
    // Global range 2688 → weight_scale_2 = 2688 / (6·448) = 1. Row 0: block max 2688 → block
    // scale 448 (E4M3 0x7E), 2688 / 448 = 6 → E2M1 code 7. Row 1: block max 3 → scale 0.5 (0x30);
    // 1.5 / 0.5 = 3 → code 5, -3 / 0.5 = -6 → code 0xF, 0.5 / 0.5 = 1 → code 2.
    var r0 = [Float](repeating: 0, count: 16)
    r0[0] = 2688
    var r1 = [Float](repeating: 0, count: 16)
    r1[0] = 1.5
    r1[1] = -3
    r1[2] = 0.5
    let l = try Self.linear([r0, r1])
    try quantize(l, weight: QuantizerAttributes(format: .nvfp4))
    let (f, report) = try Self.export(l)
    let w = try f.rawBytes("fc.weight")
    #expect(try f.info("fc.weight").shape == [2, 8])
    #expect(w == [0x07, 0, 0, 0, 0, 0, 0, 0, 0xF5, 0x02, 0, 0, 0, 0, 0, 0])
    #expect(try f.rawBytes("fc.weight_scale") == [0x7E, 0x30])
    #expect(try f.floats("fc.weight_scale_2") == [1])
    #expect(report.quantAlgo == "W4A16_NVFP4")
  }

  /// INT8 per-channel: the codes are ModelOpt's `output / step` of the golden vector.
  @Test func int8GoldenCodes() throws {
    let g = try Golden.load("modelopt_int8_per_channel_axis0")
    let l = Linear(32, 4, seed: 1)
    try l.weight.assign(g.input.tensor)
    let wq = try quantize(l, weight: .int(8, axis: 0))
    try wq.setAmax(g.amax!.tensor)
    let (f, _) = try Self.export(l)
    let codes = try f.rawBytes("fc.weight").map { Float(Int8(bitPattern: $0)) }
    let amax = g.amax!.floats
    let expected = g.output.floats.enumerated().map { i, y in (y * (127 / amax[i / 32])).rounded() }
    #expect(codes == expected)
    #expect(try f.floats("fc.weight_scale") == amax.map { $0 / 127 })
  }

  /// INT4 with one block per row is per-channel INT4: the codes of the golden vector, packed
  /// along the rows.
  @Test func int4GoldenCodes() throws {
    let g = try Golden.load("modelopt_int4_per_channel_axis0")
    let l = Linear(32, 4, seed: 1)
    try l.weight.assign(g.input.tensor)
    let wq = try quantize(l, weight: .int(4, blockSize: 32))
    try wq.setAmax(g.amax!.tensor)
    let (f, _) = try Self.export(l)
    let q = Nibbles.unpackAlongRows(try f.rawBytes("fc.weight"), packedRows: 2, cols: 32).map(Float.init)
    let amax = g.amax!.floats
    let expected = g.output.floats.enumerated().map { i, y in (y * (7 / amax[i / 32])).rounded() }
    #expect(q == expected)
    #expect(try f.info("fc.weight_scale").shape == [4, 1])
  }

  /// FP8: the decoded codes times the scale are the golden output bit for bit.
  @Test func fp8GoldenCodes() throws {
    let g = try Golden.load("modelopt_fp8_e4m3_per_tensor_amax2.5")
    let l = Linear(16, 4, seed: 1)
    try l.weight.assign(g.input.tensor)
    let wq = try quantize(l, weight: QuantizerAttributes(format: .e4m3))
    try wq.setAmax(g.amax!.tensor)
    let (f, _) = try Self.export(l)
    let codes = try f.floats("fc.weight")
    let scale = try f.floats("fc.weight_scale")[0]
    #expect(codes.map { $0 * scale } == g.output.floats)
  }

  /// NVFP4: E4M3 block scales and E2M1 magnitudes are the golden vector's (global scale 1).
  @Test func nvfp4GoldenCodes() throws {
    struct NV: Decodable {
      let input: GoldenTensor, output: GoldenTensor
      let block_scale_fp8_as_float: GoldenTensor, e2m1_magnitude_codes: GoldenTensor
      let global_amax: Double
    }
    let g = try JSONDecoder().decode(
      NV.self, from: Data(contentsOf: fixtures().appendingPathComponent("conformance/modelopt_nvfp4_block16.json")))
    let l = Linear(64, 4, seed: 1)
    try l.weight.assign(g.input.tensor)
    let wq = try quantize(l, weight: QuantizerAttributes(format: .nvfp4))
    #expect(wq.amax?.scalars == [Float(g.global_amax)])
    let dir = try Self.directory(l)
    let f = try SafeTensorsFile(contentsOf: dir.appendingPathComponent("model.safetensors"))
    #expect(try f.info("fc.weight_scale").dtype == .f8E4M3)
    #expect(try f.floats("fc.weight_scale") == g.block_scale_fp8_as_float.floats)
    #expect(try f.floats("fc.weight_scale_2") == [1])
    let magnitudes = Nibbles.unpackAlongLastAxis(try f.rawBytes("fc.weight")).map { abs(QuantCodec.e2m1Value($0)) }
    #expect(magnitudes == g.e2m1_magnitude_codes.floats)
    let read = try UnifiedCheckpoint.read(dir)
    #expect(read.layers[0].weight.scalars == g.output.floats)
  }
}
