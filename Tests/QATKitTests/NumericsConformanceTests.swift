import Foundation
import Testing
import QATKit

// Sign of zero: outputs are compared by bit pattern everywhere, so ModelOpt's -0.0 (integer and LSQ
// outputs) and torch's +0.0 are both matched exactly. No golden file needs an `==` comparison.

/// Every golden file this suite checks; `allFixturesCovered` fails if the folder holds another.
private let conformanceFiles: [String] = [
  "modelopt_fp8_e4m3_per_channel_axis0.json",
  "modelopt_fp8_e4m3_per_tensor_amax2.5.json",
  "modelopt_fp8_e4m3_per_tensor_amax448.json",
  "modelopt_int4_per_channel_axis0.json",
  "modelopt_int4_per_channel_axis0_narrow.json",
  "modelopt_int8_per_channel_axis0.json",
  "modelopt_int8_per_tensor.json",
  "modelopt_int8_per_tensor_amax_1.7.json",
  "modelopt_int8_per_tensor_dynamic_amax.json",
  "modelopt_int8_per_tensor_narrow.json",
  "modelopt_lsq_int4_block16.json",
  "modelopt_nvfp4_block16.json",
  "modelopt_nvfp4_global_scale.json",
  "torch_fq_per_channel_int4_sym_axis0.json",
  "torch_fq_per_channel_int8_sym_axis0.json",
  "torch_fq_per_channel_uint8_asym_axis0.json",
  "torch_fq_per_tensor_int4_sym.json",
  "torch_fq_per_tensor_int8_scale_0.0123.json",
  "torch_fq_per_tensor_int8_sym.json",
  "torch_fq_per_tensor_uint4_asym.json",
  "torch_fq_per_tensor_uint8_asym.json",
  "torch_lsq_learnable_per_tensor_int4.json",
]

@Suite("Numerics conformance (golden vectors)")
struct NumericsConformanceTests {
  @Test func allFixturesCovered() throws {
    let listed = try GoldenFile.listed()
    #expect(listed.count == 22)
    #expect(Set(listed) == Set(conformanceFiles), "uncovered: \(Set(listed).subtracting(conformanceFiles))")
  }

  @Test(arguments: conformanceFiles)
  func golden(_ name: String) throws {
    let f = try GoldenFile.load(name)
    if name == "modelopt_nvfp4_block16.json" {
      try checkNVFP4(f)
    } else if name == "modelopt_nvfp4_global_scale.json" {
      try checkNVFP4GlobalScale(f)
    } else if name == "modelopt_lsq_int4_block16.json" {
      try checkModelOptLSQ(f)
    } else if name == "torch_lsq_learnable_per_tensor_int4.json" {
      try checkTorchLSQ(f)
    } else if name.hasPrefix("torch_fq_") {
      try checkTorchFakeQuant(f)
    } else if name.hasPrefix("modelopt_") {
      try checkModelOptTensorQuantizer(f)
    } else {
      Issue.record("no checker for \(name)")
    }
  }

  private func checkTorchFakeQuant(_ f: GoldenFile) throws {
    let p = try f.dict("params")
    let x = try f.tensor("input")
    let qmin = try #require(p["quant_min"] as? Int), qmax = try #require(p["quant_max"] as? Int)
    let axis = p["axis"] as? Int
    let scales: [Float] = (p["scale"] as? [Any] ?? [p["scale"] as Any]).map { Float(double($0) ?? .nan) }
    let zps: [Int] = (p["zero_point"] as? [Any] ?? [p["zero_point"] as Any]).map { ($0 as? Int) ?? Int.min }
    let (out, mask) = try runMasked(x.data) { xb, ob, mb in
      if let axis {
        try TorchFakeQuant.perChannelAffine(
          xb, shape: x.shape, axis: axis, scales: scales, zeroPoints: zps, quantMin: qmin, quantMax: qmax,
          into: ob, gradMask: mb)
      } else {
        try TorchFakeQuant.perTensorAffine(
          xb, scale: scales[0], zeroPoint: zps[0], quantMin: qmin, quantMax: qmax, into: ob, gradMask: mb)
      }
    }
    expectBitwise(out, try f.tensor("output").data, "\(f.name) output")
    let g = try f.tensor("grad_output").data
    expectBitwise(try applyMask(g, mask, .signed), try f.tensor("grad_input").data, "\(f.name) grad_input")
    let ref = try ReferenceKernels.torchAffine(
      x.data, shape: x.shape, axis: axis, scales: scales, zeroPoints: zps, quantMin: qmin, quantMax: qmax)
    expectBitwise(ref.out, out, "\(f.name) reference")
  }

  private func checkModelOptTensorQuantizer(_ f: GoldenFile) throws {
    let cfg = try f.dict("quantizer_config")
    let x = try f.tensor("input")
    let axis = cfg["axis"] as? Int
    let granularity: QuantGranularity = axis.map { .perChannel(axis: $0) } ?? .perTensor
    let dynamic = (f["amax_source"] as? String)?.hasPrefix("dynamic") ?? false
    let amax: [Float]? = dynamic ? nil : try f.tensor("amax").data
    let isFP8 = cfg["num_bits"] is [Any]
    let (out, mask) = try runMasked(x.data) { xb, ob, mb in
      let body = { (ab: UnsafeBufferPointer<Float>?) throws(QuantizationError) in
        if isFP8 {
          try FP8.fakeQuantModelOpt(xb, shape: x.shape, format: .fp8E4M3, granularity: granularity, amax: ab, into: ob, steMask: mb)
        } else {
          let bits = cfg["num_bits"] as! Int
          let format = try NumberFormat.integer(bits: bits, narrowRange: (cfg["narrow_range"] as? Bool) ?? false)
          try IntFakeQuant.modelOpt(xb, shape: x.shape, format: format, granularity: granularity, amax: ab, into: ob, steMask: mb)
        }
      }
      if let amax { try amax.withUnsafeBufferPointer { try body($0) } } else { try body(nil) }
    }
    expectBitwise(out, try f.tensor("output").data, "\(f.name) output")
    let g = try f.tensor("grad_output").data
    var passed = [Float](repeating: .nan, count: g.count)
    try g.withUnsafeBufferPointer { gb in try passed.withUnsafeMutableBufferPointer { try STE.passThrough(gb, into: $0) } }
    expectBitwise(passed, try f.tensor("grad_input_pass_through_bwd_true").data, "\(f.name) pass-through grad")
    if f["grad_input_pass_through_bwd_false"] != nil {
      expectBitwise(
        try applyMask(g, mask, .positive), try f.tensor("grad_input_pass_through_bwd_false").data,
        "\(f.name) clipped grad")
    }
  }

  private func checkNVFP4(_ f: GoldenFile) throws {
    let x = try f.tensor("input")
    var scales = [Float](repeating: .nan, count: x.data.count / 16)
    var gs: Float = 0
    let out = try run(x.data) { xb, ob in
      gs = try scales.withUnsafeMutableBufferPointer { try NVFP4.fakeQuant(xb, shape: x.shape, into: ob, blockScales: $0) }
    }
    #expect(Double(gs) == double(f["global_scale"]))
    expectBitwise(out, try f.tensor("output").data, "nvfp4 output (+0.0 zeros as NVFP4QTensor)")
    // The E4M3 block scale (NVFP4QTensor's weights_scaling_factor) is compared with the E4M3
    // scale; `block_scale_effective` is golden.py's emulation of the GPU kernel (E4M3 scale ×
    // global scale, but 1.0 for an all-zero block, where NVFP4QTensor gives 1.0 × gs): equal
    // on every other block. The file's global scale is 1, so `modelopt_nvfp4_global_scale.json`
    // checks the same quantities with another global scale.
    expectBitwise(scales, try f.tensor("block_scale_fp8_as_float").data, "nvfp4 block scales")
    let eff = try f.tensor("block_scale_effective").data
    let blockMax = (0..<scales.count).map { k in x.data[(k * 16)..<(k * 16 + 16)].map(abs).max() ?? 0 }
    let live = scales.indices.filter { blockMax[$0] > 0 }
    #expect(live.count < scales.count, "the file has an all-zero block")
    expectBitwise(live.map { scales[$0] * gs }, live.map { eff[$0] }, "nvfp4 effective scales")
    for k in scales.indices where blockMax[k] == 0 {
      #expect(eff[k] == 1, "the GPU-kernel emulation's all-zero block scale")
      #expect(out[(k * 16)..<(k * 16 + 16)].allSatisfy { $0.bitPattern == 0 })
    }
    let mags = x.data.indices.map { FP4E2M1.round(abs(x.data[$0]) / eff[$0 / 16]) }
    expectBitwise(mags, try f.tensor("e2m1_magnitude_codes").data, "nvfp4 E2M1 magnitudes")
    let ref = try ReferenceKernels.nvfp4(x.data, shape: x.shape, globalAmax: nil)
    expectBitwise(ref.out, out, "nvfp4 reference")
    // Tiny-block edge case: we follow NVFP4QTensor (block scale clamped to 2^-9 * gs).
    let edge = try f.dict("edge_tiny_block")
    let ex = try f.tensor("input", in: edge)
    var edgeScales: [Float] = [0, 0]
    var edgeGS: Float = 0
    let edgeOut = try run(ex.data) { xb, ob in
      edgeGS = try edgeScales.withUnsafeMutableBufferPointer { try NVFP4.fakeQuant(xb, shape: ex.shape, into: ob, blockScales: $0) }
    }
    expectBitwise(edgeOut, try f.tensor("output_nvfp4qtensor", in: edge).data, "nvfp4 tiny block output")
    // `block_scale_nvfp4qtensor` is the effective scale (E4M3 scale × global scale).
    expectBitwise(edgeScales.map { $0 * edgeGS }, try f.tensor("block_scale_nvfp4qtensor", in: edge).data, "nvfp4 tiny block scales")
    #expect(!bitMismatches(edgeOut, try f.tensor("output_triton_emulation", in: edge).data).isEmpty)
  }

  /// ModelOpt's CPU NVFP4 path with a global scale other than 1, an all-zero block, a tiny block
  /// and signed zeros: every quantity the conformance README defines, from the fake-quant kernel
  /// and from the export (real codes and E4M3 scale bytes).
  private func checkNVFP4GlobalScale(_ f: GoldenFile) throws {
    let x = try f.tensor("input")
    var scales = [Float](repeating: .nan, count: x.data.count / 16)
    var gs: Float = 0
    let out = try run(x.data) { xb, ob in
      gs = try scales.withUnsafeMutableBufferPointer { try NVFP4.fakeQuant(xb, shape: x.shape, into: ob, blockScales: $0) }
    }
    let globalAmax = x.data.withUnsafeBufferPointer { Amax.maxAbs($0) }
    #expect(Double(globalAmax) == double(f["global_amax"]))
    #expect(Double(gs) == double(f["global_scale"]))
    #expect(gs != 1)
    expectBitwise(scales, try f.tensor("block_scale_e4m3").data, "nvfp4 E4M3 block scales")
    let eff = try f.tensor("block_scale_effective").data
    expectBitwise(scales.map { $0 * gs }, eff, "nvfp4 effective block scales (E4M3 × global)")
    expectBitwise(out, try f.tensor("output").data, "nvfp4 output")
    let ref = try ReferenceKernels.nvfp4(x.data, shape: x.shape, globalAmax: nil)
    expectBitwise(ref.out, out, "nvfp4 reference")
    // E2M1 magnitudes of the codes.
    let codes = try intArray(f.dict("codes")["data"])
    let table: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    let mags = x.data.indices.map { FP4E2M1.round(abs(x.data[$0]) / eff[$0 / 16]) }
    expectBitwise(mags, codes.map { table[$0 & 7] }, "nvfp4 E2M1 magnitudes of the codes")
    // Export: the same E4M3 bytes and 4-bit codes as NVFP4QTensor.quantize.
    let q = try TensorQuantizer(attributes: QuantizerAttributes(format: .nvfp4, dynamic: true))
    let exported = try q.export(try Tensor(x.data, shape: x.shape))
    #expect(exported.blockScaleCodes.map(Int.init) == (try intArray(f.dict("block_scale_e4m3_bits")["data"])))
    let unpacked: [Int] = (0..<x.data.count).map { i in
      let byte = exported.codes[i / 2]
      return Int(i & 1 == 0 ? byte & 0x0F : byte >> 4)
    }
    #expect(unpacked == codes, "export codes differ at \(unpacked.indices.filter { unpacked[$0] != codes[$0] }.prefix(8))")
    expectBitwise(exported.dequantize().scalars, out, "nvfp4 export dequantized")
  }

  private func intArray(_ value: Any?) throws -> [Int] {
    try #require(value as? [Any]).map { try #require(number($0)).intValue }
  }

  private func checkModelOptLSQ(_ f: GoldenFile) throws {
    let x = try f.tensor("input")
    let amax = try f.tensor("amax_calibrated_per_block").data
    let int4 = try NumberFormat.integer(bits: 4)
    let plain = try amax.withUnsafeBufferPointer { ab in
      try run(x.data) { xb, ob in
        try IntFakeQuant.modelOpt(xb, shape: x.shape, format: int4, granularity: .perBlock(size: 16), amax: ab, into: ob)
      }
    }
    expectBitwise(plain, try f.tensor("output_plain_tensorquantizer").data, "plain block int4 output")
    let lsq = try amax.withUnsafeBufferPointer { ab in
      try run(x.data) { xb, ob in
        try LSQNumerics.modelOptForward(xb, shape: x.shape, blockSize: 16, format: int4, amaxPre: ab, amaxPost: ab, into: ob)
      }
    }
    expectBitwise(lsq, try f.tensor("output_lsq").data, "LSQ output")
    let g = try f.tensor("grad_output").data
    var gx = [Float](repeating: .nan, count: g.count)
    var gPre = [Float](repeating: .nan, count: amax.count), gPost = gPre
    try x.data.withUnsafeBufferPointer { xb in
      try g.withUnsafeBufferPointer { gb in
        try amax.withUnsafeBufferPointer { ab in
          try LSQNumerics.modelOptBackward(
            xb, gradOutput: gb, shape: x.shape, blockSize: 16, format: int4, amaxPre: ab, amaxPost: ab,
            gradInput: gx.withUnsafeMutableBufferPointer { $0 }, gradAmaxPre: gPre.withUnsafeMutableBufferPointer { $0 },
            gradAmaxPost: gPost.withUnsafeMutableBufferPointer { $0 })
        }
      }
    }
    let untied = try f.dict("untied"), tied = try f.dict("tied")
    expectBitwise(gx, try f.tensor("grad_input", in: untied).data, "LSQ untied grad_input")
    expectClose(gPre, try f.tensor("grad_amax_pre", in: untied).data, "LSQ grad amax_pre")
    expectClose(gPost, try f.tensor("grad_amax_post", in: untied).data, "LSQ grad amax_post")
    expectBitwise(gx, try f.tensor("grad_input", in: tied).data, "LSQ tied grad_input")
    expectClose(zip(gPre, gPost).map { $0 + $1 }, try f.tensor("grad_amax", in: tied).data, "LSQ tied grad amax")
  }

  private func checkTorchLSQ(_ f: GoldenFile) throws {
    let x = try f.tensor("input")
    let scale = Float(try #require(double(f["scale"]))), zp = Float(try #require(double(f["zero_point"])))
    let qmin = try #require(f["quant_min"] as? Int), qmax = try #require(f["quant_max"] as? Int)
    let out = try run(x.data) { xb, ob in
      try LSQNumerics.torchForward(xb, scale: scale, zeroPoint: zp, quantMin: qmin, quantMax: qmax, into: ob)
    }
    expectBitwise(out, try f.tensor("output").data, "torch LSQ output")
    let g = try f.tensor("grad_output").data
    var gx = [Float](repeating: .nan, count: g.count)
    let grads = try x.data.withUnsafeBufferPointer { xb in
      try g.withUnsafeBufferPointer { gb in
        try gx.withUnsafeMutableBufferPointer {
          try LSQNumerics.torchBackward(xb, gradOutput: gb, scale: scale, zeroPoint: zp, quantMin: qmin, quantMax: qmax, gradInput: $0)
        }
      }
    }
    expectBitwise(gx, try f.tensor("grad_input").data, "torch LSQ grad_input")
    expectClose([grads.gradScale], [Float(try #require(double(f["grad_scale"])))], rtol: 1e-5, "grad_scale")
    expectClose([grads.gradZeroPoint], [Float(try #require(double(f["grad_zero_point"])))], rtol: 1e-4, "grad_zero_point")
  }

  @Test func negativeZeroParsedFromJSON() throws {
    let f = try GoldenFile.load("modelopt_int8_per_tensor.json")
    let out = try f.tensor("output").data
    #expect(out.filter { $0 == 0 && $0.sign == .minus }.count == 2)
  }
}

@Suite("Numerics kernels")
struct NumericsKernelTests {
  // MARK: Rounding

  @Test func roundHalfEvenMatchesStandardLibrary() throws {
    var values: [Float] = [
      0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, .nan, -.nan, .infinity, -.infinity,
      .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
      -.greatestFiniteMagnitude, 1e-6, -1e-6,
    ]
    // Every float around the 2^22, 2^23 and 2^24 boundaries (both signs), and k + 0.5 ties.
    for base: Float in [0x1p22, 0x1p23, 0x1p24] {
      var v = base
      for _ in 0..<64 { v = v.nextDown }
      for _ in 0..<128 {
        values.append(v)
        values.append(-v)
        v = v.nextUp
      }
    }
    for k in stride(from: -300, through: 300, by: 1) { values.append(Float(k) + 0.5) }
    // A strided sweep over all 2^32 bit patterns (subnormals, NaN payloads, infinities included).
    var bits: UInt32 = 0
    while true {
      values.append(Float(bitPattern: bits))
      let (next, overflow) = bits.addingReportingOverflow(4093)
      if overflow { break }
      bits = next
    }
    let fast = try run(values) { try Rounding.roundHalfEven($0, into: $1) }
    for (i, v) in values.enumerated() {
      let expected = v.rounded(.toNearestOrEven)
      let scalar = Rounding.roundHalfEven(v)
      if v.isNaN {
        #expect(scalar.isNaN && fast[i].isNaN)
      } else if scalar.bitPattern != expected.bitPattern || fast[i].bitPattern != expected.bitPattern {
        Issue.record("roundHalfEven(\(v)) = \(scalar)/\(fast[i]), expected \(expected)")
        return
      }
    }
    #expect(values.count > 1_000_000)
  }

  // MARK: Minifloat codes

  @Test func e4m3CodesRoundTrip() {
    for c in 0...255 {
      let code = UInt8(c)
      let v = FP8.decodeE4M3(code)
      if code & 0x7F == 0x7F {
        #expect(v.isNaN)
        #expect(FP8.encodeE4M3(v) == code)
      } else {
        #expect(FP8.encodeE4M3(v) == code, "E4M3 code \(c) -> \(v)")
        #expect(FP8.encodeE4M3(v, saturating: false) == code)
      }
    }
    #expect(FP8.decodeE4M3(0x7E) == 448)
    #expect(FP8.decodeE4M3(0x01) == 0x1p-9)
    #expect(FP8.encodeE4M3(1e9) == 0x7E)
    #expect(FP8.encodeE4M3(1e9, saturating: false) == 0x7F)
    #expect(FP8.encodeE4M3(464, saturating: false) == 0x7E)
    #expect(FP8.encodeE4M3(465, saturating: false) == 0x7F)
    #expect(FP8.encodeE4M3(-.infinity, saturating: false) == 0xFF)
  }

  @Test func e5m2CodesRoundTrip() {
    for c in 0...255 {
      let code = UInt8(c)
      let v = FP8.decodeE5M2(code)
      if code & 0x7F > 0x7C {
        #expect(v.isNaN)
        #expect(FP8.encodeE5M2(v) == (code & 0x80) | 0x7E)
      } else if code & 0x7F == 0x7C {
        #expect(v.isInfinite)
        #expect(FP8.encodeE5M2(v, saturating: false) == code)
        #expect(FP8.encodeE5M2(v) == (code & 0x80) | 0x7B)
      } else {
        #expect(FP8.encodeE5M2(v) == code, "E5M2 code \(c) -> \(v)")
      }
    }
    #expect(FP8.encodeE5M2(61439, saturating: false) == 0x7B)
    #expect(FP8.encodeE5M2(61440, saturating: false) == 0x7C)
  }

  /// The F8 tensors of `fixtures/dtypes_extra.json` (values and little-endian bytes).
  @Test func fp8ExportFixtureBytes() {
    let e4m3: [Float] = [0, -0.0, 1, -1, 448, -448, 0.015625, 0.001953125, 1.125, -0.1015625, 240, .nan]
    let e4m3Bytes: [UInt8] = [0x00, 0x80, 0x38, 0xb8, 0x7e, 0xfe, 0x08, 0x01, 0x39, 0x9d, 0x77, 0x7f]
    #expect(e4m3.map { FP8.encodeE4M3($0) } == e4m3Bytes)
    #expect(bitMismatches(e4m3Bytes.map(FP8.decodeE4M3), e4m3).isEmpty)
    let e5m2: [Float] = [0, -0.0, 1, -1, 57344, -57344, 6.103515625e-05, 1.52587890625e-05, 1.25, -0.09375, .infinity, -.infinity]
    let e5m2Bytes: [UInt8] = [0x00, 0x80, 0x3c, 0xbc, 0x7b, 0xfb, 0x04, 0x01, 0x3d, 0xae, 0x7c, 0xfc]
    #expect(e5m2.map { FP8.encodeE5M2($0, saturating: false) } == e5m2Bytes)
    #expect(bitMismatches(e5m2Bytes.map(FP8.decodeE5M2), e5m2).isEmpty)
  }

  @Test func e2m1CodesAndTies() {
    for c in 0..<16 {
      let v = FP4E2M1.decode(UInt8(c))
      #expect(FP4E2M1.encode(v) == UInt8(c), "E2M1 code \(c)")
    }
    let ties: [(Float, Float)] = [
      (0.25, 0), (0.75, 1), (1.25, 1), (1.75, 2), (2.5, 2), (3.5, 4), (5, 4), (5.0001, 6), (7, 6), (-2.5, -2), (-0.25, -0.0),
    ]
    for (x, r) in ties {
      #expect(FP4E2M1.round(x).bitPattern == r.bitPattern, "E2M1 round(\(x))")
    }
    #expect(FP4E2M1.encode(-0.2) == 8)
  }

  /// Fast minifloat rounding vs nearest-grid search: every midpoint, its neighbours, and a sweep.
  @Test func minifloatRoundingMatchesGridSearch() {
    var probes: [Float] = [0, -0.0, .nan, 1e-30, -1e-30, 1e30, -1e30, .infinity, -.infinity]
    for grid in [ReferenceKernels.e4m3Grid, ReferenceKernels.e5m2Grid, FP4E2M1.grid] {
      for k in 0..<(grid.count - 1) {
        let mid = (grid[k] + grid[k + 1]) / 2
        for v in [mid, mid.nextUp, mid.nextDown, grid[k]] { probes += [v, -v] }
      }
      probes += [grid.last! * 1.03, grid.last! * 1.07, -grid.last! * 1.1]
    }
    var rng = NumericsTestRNG(seed: 7)
    for _ in 0..<20_000 {
      let e = Float(Int(rng.next() % 40) - 24)
      probes.append(Float(sign: rng.next() % 2 == 0 ? .plus : .minus, exponent: Int(e), significand: 1 + Float(rng.next() % 1_000_000) / 1_000_000))
    }
    for v in probes {
      let pairs: [(Float, Float, String)] = [
        (FP8.roundE4M3(v), ReferenceKernels.roundE4M3(v), "E4M3"),
        (FP8.roundE5M2(v), ReferenceKernels.roundE5M2(v), "E5M2"),
        (FP4E2M1.round(v), ReferenceKernels.roundE2M1(v), "E2M1"),
      ]
      for (a, b, name) in pairs where a.bitPattern != b.bitPattern && !(a.isNaN && b.isNaN) {
        Issue.record("\(name) round(\(v)): \(a) vs grid \(b)")
        return
      }
    }
  }

  // MARK: Fast vs reference on odd shapes

  static let shapes: [[Int]] = [[0], [1], [7], [17], [1023], [3, 17], [4, 5, 7], [2, 0, 3], [33, 2049]]

  @Test func intModelOptMatchesReference() throws {
    let formats: [NumberFormat] = [
      .int(bits: 8, signed: true, narrowRange: false), .int(bits: 4, signed: true, narrowRange: true),
      .int(bits: 2, signed: true, narrowRange: false), .int(bits: 8, signed: false, narrowRange: false),
    ]
    for (si, shape) in Self.shapes.enumerated() {
      let n = shape.reduce(1, *)
      let x = testData(n, seed: UInt64(si))
      var grans: [QuantGranularity] = [.perTensor]
      for a in 0..<shape.count { grans += [.perChannel(axis: a), .perChannel(axis: a - shape.count)] }
      if let last = shape.last, last > 0 { grans.append(.perBlock(size: last)) }
      if shape.last.map({ $0 % 7 == 0 && $0 > 0 }) ?? false { grans.append(.perBlock(size: 7)) }
      // The large shape (more than one parallel chunk) runs one format to keep the debug suite fast.
      for format in n > 10_000 ? [formats[0]] : formats {
        for g in grans {
          for dynamic in [true, false] {
            let layoutCount: Int = {
              switch g {
              case .perTensor: return 1
              case .perChannel(let a): return shape[a < 0 ? a + shape.count : a]
              case .perBlock(let s): return n / s
              }
            }()
            let amax: [Float]? = dynamic ? nil : (0..<layoutCount).map { [1.7, 0, 1e-30, 3, 0.3][$0 % 5] }
            let ref = try ReferenceKernels.modelOptInt(x, shape: shape, format: format, granularity: g, amax: amax)
            let fast = try runMasked(x) { xb, ob, mb in
              if let amax {
                try amax.withUnsafeBufferPointer {
                  try IntFakeQuant.modelOpt(xb, shape: shape, format: format, granularity: g, amax: $0, into: ob, steMask: mb)
                }
              } else {
                try IntFakeQuant.modelOpt(xb, shape: shape, format: format, granularity: g, amax: nil, into: ob, steMask: mb)
              }
            }
            expectBitwise(fast.out, ref.out, "int \(format) \(g) \(shape) dynamic=\(dynamic)")
            #expect(fast.mask == ref.mask || dynamic == false && fast.mask.count == 0, "mask \(format) \(g) \(shape)")
            if fast.mask != ref.mask { return }
          }
        }
      }
    }
  }

  @Test func torchAffineMatchesReference() throws {
    for (si, shape) in Self.shapes.enumerated() {
      let n = shape.reduce(1, *)
      let x = testData(n, seed: 100 + UInt64(si), scale: 1)
      for axis in [nil] + Array(0..<shape.count) as [Int?] {
        let c = axis.map { shape[$0] } ?? 1
        let scales = (0..<c).map { [0.0123, 0.25, 1.0 / 64, 0.7][$0 % 4] as Float }
        let ranges = [(-128, 127, 0), (0, 255, 100), (0, 15, 5), (-8, 7, 0)]
        for (qmin, qmax, zp) in n > 10_000 ? [ranges[1]] : ranges {
          let zps = [Int](repeating: zp, count: c)
          let ref = try ReferenceKernels.torchAffine(
            x, shape: shape, axis: axis, scales: scales, zeroPoints: zps, quantMin: qmin, quantMax: qmax)
          let fast = try runMasked(x) { xb, ob, mb in
            try TorchFakeQuant.perChannelAffine(
              xb, shape: shape, axis: axis, scales: scales, zeroPoints: zps, quantMin: qmin, quantMax: qmax,
              into: ob, gradMask: mb)
          }
          expectBitwise(fast.out, ref.out, "torch affine \(shape) axis \(String(describing: axis))")
          #expect(fast.mask == ref.mask)
        }
      }
    }
  }

  @Test func fp8MatchesReference() throws {
    for (si, shape) in Self.shapes.enumerated() {
      let n = shape.reduce(1, *)
      let x = testData(n, seed: 200 + UInt64(si), scale: 50)
      for format in n > 10_000 ? [NumberFormat.fp8E4M3] : [.fp8E4M3, .fp8E5M2] {
        for g in [QuantGranularity.perTensor] + (0..<shape.count).map({ .perChannel(axis: $0) }) {
          for dynamic in [true, false] {
            let c: Int = { if case .perChannel(let a) = g { return shape[a] } else { return 1 } }()
            let amax: [Float]? = dynamic ? nil : (0..<c).map { [2.5, 448, 0, 3, 0.1][$0 % 5] }
            let ref = try ReferenceKernels.fp8ModelOpt(x, shape: shape, format: format, granularity: g, amax: amax)
            let out = try run(x) { xb, ob in
              if let amax {
                try amax.withUnsafeBufferPointer {
                  try FP8.fakeQuantModelOpt(xb, shape: shape, format: format, granularity: g, amax: $0, into: ob)
                }
              } else {
                try FP8.fakeQuantModelOpt(xb, shape: shape, format: format, granularity: g, amax: nil, into: ob)
              }
            }
            expectBitwise(out, ref, "fp8 \(format) \(g) \(shape) dynamic=\(dynamic)")
          }
        }
      }
    }
  }

  @Test func blockFormatsMatchReference() throws {
    let cases: [([Int], Int)] = [([0, 16], 16), ([1, 16], 16), ([3, 48], 16), ([5, 7], 7), ([2, 40], 8), ([33, 2048], 16)]
    for (ci, (shape, bs)) in cases.enumerated() {
      let n = shape.reduce(1, *)
      var x = testData(n, seed: 300 + UInt64(ci), scale: 20)
      if n >= 32 { for i in 16..<32 { x[i] = 0 } }  // an all-zero block
      if n >= 48 { for i in 32..<48 { x[i] *= 1e-6 } }  // a tiny block
      for amax in [nil, Float(100)] as [Float?] {
        let ref = try ReferenceKernels.nvfp4(x, shape: shape, globalAmax: amax, blockSize: bs)
        var scales = [Float](repeating: .nan, count: n / bs)
        let out = try run(x) { xb, ob in
          try scales.withUnsafeMutableBufferPointer {
            _ = try NVFP4.fakeQuant(xb, shape: shape, globalAmax: amax, blockSize: bs, into: ob, blockScales: $0)
          }
        }
        expectBitwise(out, ref.out, "nvfp4 \(shape)/\(bs)")
        expectBitwise(scales, ref.blockScales, "nvfp4 scales \(shape)/\(bs)")
      }
      for format in MXFormat.allCases {
        let ref = try ReferenceKernels.mx(x, shape: shape, format: format, blockSize: bs)
        var codes = [UInt8](repeating: 0, count: n / bs)
        let out = try run(x) { xb, ob in
          try codes.withUnsafeMutableBufferPointer { try format.fakeQuant(xb, shape: shape, blockSize: bs, into: ob, scaleCodes: $0) }
        }
        expectBitwise(out, ref.out, "\(format) \(shape)/\(bs)")
        #expect(codes == ref.codes)
      }
    }
  }

  @Test func inPlaceMatchesOutOfPlace() throws {
    let x = testData(1000, seed: 9)
    let expected = try run(x) { xb, ob in
      try IntFakeQuant.modelOpt(xb, shape: [1000], format: .int(bits: 8, signed: true, narrowRange: false), amax: nil, into: ob)
    }
    var y = x
    try y.withUnsafeMutableBufferPointer { yb in
      try IntFakeQuant.modelOpt(UnsafeBufferPointer(yb), shape: [1000], format: .int(bits: 8, signed: true, narrowRange: false), amax: nil, into: yb)
    }
    expectBitwise(y, expected, "in-place")
  }

  // MARK: MX from first principles

  @Test func mxSharedExponentCeilRule() {
    #expect(MXFormat.sharedExponent(amax: 6, elementMax: 6) == 0)
    #expect(MXFormat.sharedExponent(amax: 6.0001, elementMax: 6) == 1)
    #expect(MXFormat.sharedExponent(amax: 12, elementMax: 6) == 1)
    #expect(MXFormat.sharedExponent(amax: 3, elementMax: 6) == -1)
    #expect(MXFormat.sharedExponent(amax: 5.9, elementMax: 6) == 0)
    #expect(MXFormat.sharedExponent(amax: 448, elementMax: 448) == 0)
    #expect(MXFormat.sharedExponent(amax: 449, elementMax: 448) == 1)
    #expect(MXFormat.sharedExponent(amax: Float(1).nextUp * 448, elementMax: 448) == 1)
    #expect(MXFormat.sharedExponent(amax: 0, elementMax: 6) == -127)
    #expect(MXFormat.sharedExponent(amax: .leastNonzeroMagnitude, elementMax: 448) == -127)
    #expect(MXFormat.sharedExponent(amax: .greatestFiniteMagnitude, elementMax: 6) == 126)
    #expect(MXFormat.sharedExponent(amax: .infinity, elementMax: 6) == 127)
  }

  @Test func mxfp4KnownValues() throws {
    // Block 0: amax 6 → scale 1, values already on the grid stay; ties go to even.
    // Block 1: amax 12 → scale 2; block 2: all zero; block 3: amax 0.75 → 0.75/6 = 2^-3 → scale 1/8.
    var x = [Float](repeating: 0, count: 128)
    let b0: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -6, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5]
    let e0: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -6, 0, 1, 1, 2, 2, 4, 4]
    for i in 0..<16 { x[i] = b0[i] }
    x[32] = 12; x[33] = -5; x[34] = 0.5; x[35] = 1
    x[96] = 0.75; x[97] = 0.0625; x[98] = -0.03125
    var codes = [UInt8](repeating: 0, count: 4)
    let out = try run(x) { xb, ob in
      try codes.withUnsafeMutableBufferPointer { try MXFormat.mxfp4.fakeQuant(xb, shape: [128], into: ob, scaleCodes: $0) }
    }
    expectBitwise(Array(out[0..<16]), e0, "mxfp4 block 0")
    #expect(out[32] == 12 && out[33] == -4 && out[34] == 0 && out[35] == 1)
    #expect(out[64..<96].allSatisfy { $0 == 0 })
    #expect(out[96] == 0.75 && out[97] == 0.0625 && out[98] == -0.0)
    #expect(codes == [127, 128, 0, 124])
  }

  @Test func mxfp8KnownValues() throws {
    var x = [Float](repeating: 0, count: 64)
    x[0] = 448; x[1] = 17; x[2] = 19; x[3] = 1.0625; x[4] = 0x1p-10; x[5] = -3 * 0x1p-10
    x[32] = 896; x[33] = 34; x[34] = 2
    var codes = [UInt8](repeating: 0, count: 2)
    let out = try run(x) { xb, ob in
      try codes.withUnsafeMutableBufferPointer { try MXFormat.mxfp8.fakeQuant(xb, shape: [2, 32], into: ob, scaleCodes: $0) }
    }
    #expect(Array(out[0..<6]) == [448, 16, 20, 1, 0, -0x1p-8])
    #expect(out[32] == 896 && out[33] == 32 && out[34] == 2)
    #expect(codes == [127, 128])
  }

  // MARK: STE

  @Test func steMaskStyles() throws {
    let g: [Float] = [1, -2, 3, -4, .infinity, 5, -6, 7, 8, 9, 10, 11, 12, 13, 14, 15, -16, 17]
    let m: [UInt8] = [1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1]
    let pos = try applyMask(g, m, .positive)
    let signed = try applyMask(g, m, .signed)
    #expect(pos[1].bitPattern == Float(0).bitPattern && signed[1].bitPattern == Float(-0.0).bitPattern)
    #expect(pos[16].bitPattern == Float(0).bitPattern && signed[16].bitPattern == Float(-0.0).bitPattern)
    #expect(pos[4] == 0 && signed[4].isNaN)
    #expect(pos[3] == -4 && signed[17] == 17)
  }

  // MARK: Bad input

  @Test func badInputThrowsDescriptiveErrors() throws {
    #expect(throws: QuantizationError.self) { try NumberFormat.integer(bits: 1) }
    #expect(throws: QuantizationError.self) { try NumberFormat.integer(bits: 9) }
    do {
      _ = try NumberFormat.integer(bits: 9)
    } catch {
      #expect(error.kind == .invalidBitWidth)
      #expect(error.description.contains("9"))
    }
    let x = [Float](repeating: 1, count: 12)
    func kind(_ body: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) throws -> Void) -> QuantizationError.Kind? {
      do {
        _ = try run(x) { xb, ob in try body(xb, ob) }
        return nil
      } catch let e as QuantizationError {
        return e.kind
      } catch {
        return nil
      }
    }
    let int8 = NumberFormat.int(bits: 8, signed: true, narrowRange: false)
    #expect(kind { try IntFakeQuant.modelOpt($0, shape: [3, 4], format: .int(bits: 9, signed: true, narrowRange: false), amax: nil, into: $1) } == .invalidBitWidth)
    #expect(kind { try IntFakeQuant.modelOpt($0, shape: [3, 4], format: .int(bits: 1, signed: true, narrowRange: false), amax: nil, into: $1) } == .invalidBitWidth)
    #expect(kind { try IntFakeQuant.modelOpt($0, shape: [3, 4], format: int8, granularity: .perChannel(axis: 2), amax: nil, into: $1) } == .axisOutOfRange)
    #expect(kind { try IntFakeQuant.modelOpt($0, shape: [3, 4], format: int8, granularity: .perChannel(axis: -3), amax: nil, into: $1) } == .axisOutOfRange)
    #expect(kind { try IntFakeQuant.modelOpt($0, shape: [3, 4], format: int8, granularity: .perBlock(size: 3), amax: nil, into: $1) } == .invalidBlockSize)
    #expect(kind { try IntFakeQuant.modelOpt($0, shape: [3, 4], format: int8, granularity: .perBlock(size: 0), amax: nil, into: $1) } == .invalidBlockSize)
    #expect(kind { try IntFakeQuant.modelOpt($0, shape: [5, 4], format: int8, amax: nil, into: $1) } == .bufferSizeMismatch)
    #expect(kind { try IntFakeQuant.modelOpt($0, shape: [-3, -4], format: int8, amax: nil, into: $1) } == .invalidShape)
    #expect(kind { try IntFakeQuant.modelOpt($0, shape: [3, 4], format: .fp8E4M3, amax: nil, into: $1) } == .unsupportedFormat)
    #expect(kind { try FP8.fakeQuantModelOpt($0, shape: [3, 4], format: .fp4E2M1, amax: nil, into: $1) } == .unsupportedFormat)
    #expect(kind { _ = try NVFP4.fakeQuant($0, shape: [12], into: $1) } == .invalidBlockSize)
    #expect(kind { try MXFormat.mxfp4.fakeQuant($0, shape: [12], into: $1) } == .invalidBlockSize)
    #expect(kind { try TorchFakeQuant.perTensorAffine($0, scale: 0, zeroPoint: 0, quantMin: -8, quantMax: 7, into: $1) } == .invalidParameter)
    #expect(kind { try TorchFakeQuant.perTensorAffine($0, scale: 1, zeroPoint: 9, quantMin: -8, quantMax: 7, into: $1) } == .invalidParameter)
    #expect(kind { try TorchFakeQuant.perChannelAffine($0, shape: [3, 4], axis: 0, scales: [1, 1], zeroPoints: [0, 0], quantMin: -8, quantMax: 7, into: $1) } == .bufferSizeMismatch)
    let amax: [Float] = [1, 2]
    #expect(kind { xb, ob in try amax.withUnsafeBufferPointer { try IntFakeQuant.modelOpt(xb, shape: [3, 4], format: int8, granularity: .perChannel(axis: 0), amax: $0, into: ob) } } == .bufferSizeMismatch)
  }

  @Test func numberFormatBounds() throws {
    #expect(try NumberFormat.integer(bits: 8).maxBound == 127)
    #expect(try NumberFormat.integer(bits: 8).minBound == -128)
    #expect(try NumberFormat.integer(bits: 8, narrowRange: true).minBound == -127)
    #expect(try NumberFormat.integer(bits: 4, signed: false).maxBound == 15)
    #expect(try NumberFormat.integer(bits: 4, signed: false).minBound == 0)
    #expect(try NumberFormat.integer(bits: 2).minBound == -2)
    #expect(NumberFormat.fp8E4M3.maxValue == 448 && NumberFormat.fp8E5M2.maxValue == 57344 && NumberFormat.fp4E2M1.maxValue == 6)
    let data = try JSONEncoder().encode([NumberFormat.int(bits: 4, signed: true, narrowRange: true), .fp8E4M3])
    #expect(try JSONDecoder().decode([NumberFormat].self, from: data) == [.int(bits: 4, signed: true, narrowRange: true), .fp8E4M3])
  }
}

// MARK: - Test support
/// A golden-vector JSON file from `Fixtures/conformance`.
private struct GoldenFile {
  let name: String
  let root: [String: Any]

  static var directory: URL {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("conformance")
  }

  static func load(_ name: String) throws -> GoldenFile {
    let data = try Data(contentsOf: directory.appendingPathComponent(name))
    let obj = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    return GoldenFile(name: name, root: try #require(obj as? [String: Any]))
  }

  static func listed() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path)
      .filter { $0.hasSuffix(".json") }.sorted()
  }

  subscript(_ key: String) -> Any? { root[key] }

  func tensor(_ key: String, in dict: [String: Any]? = nil) throws -> GoldenTensor {
    try GoldenTensor(try #require((dict ?? root)[key] as? [String: Any], "missing tensor \(key) in \(name)"))
  }

  func dict(_ key: String) throws -> [String: Any] {
    try #require(root[key] as? [String: Any], "missing object \(key) in \(name)")
  }
}

/// `{"shape": [...], "data": [...]}` parsed as Double then converted to Float (exact fp32 bits).
private struct GoldenTensor {
  let shape: [Int]
  let data: [Float]

  init(_ dict: [String: Any]) throws {
    shape = try #require(dict["shape"] as? [Any]).map { try #require(number($0)).intValue }
    data = try #require(dict["data"] as? [Any]).map { Float(try #require(number($0)).doubleValue) }
  }
}

private func number(_ v: Any) -> NSNumber? { v as? NSNumber }

private func double(_ v: Any?) -> Double? { (v.flatMap { $0 as? NSNumber })?.doubleValue }

/// The indices where `a` and `b` differ in bit pattern (so `-0.0 != +0.0`; NaN equal to NaN).
private func bitMismatches(_ a: [Float], _ b: [Float]) -> [Int] {
  guard a.count == b.count else { return [-1] }
  return a.indices.filter { a[$0].bitPattern != b[$0].bitPattern && !(a[$0].isNaN && b[$0].isNaN) }
}

private func expectBitwise(
  _ actual: [Float], _ expected: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  let bad = bitMismatches(actual, expected)
  #expect(
    bad.isEmpty,
    "\(what): \(bad.count) bitwise mismatches, first at \(bad.first ?? -1): \(bad.first.map { $0 >= 0 ? "\(actual[$0]) vs \(expected[$0])" : "count \(actual.count) vs \(expected.count)" } ?? "")",
    sourceLocation: sourceLocation)
}

private func expectClose(
  _ actual: [Float], _ expected: [Float], rtol: Float = 1e-4, atol: Float = 1e-5, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.count == expected.count, "\(what): count", sourceLocation: sourceLocation)
  for (i, (a, e)) in zip(actual, expected).enumerated() where abs(a - e) > atol + rtol * abs(e) {
    Issue.record("\(what)[\(i)]: \(a) vs \(e)", sourceLocation: sourceLocation)
    return
  }
}

/// Runs a buffer-to-buffer kernel on arrays.
private func run(_ x: [Float], _ body: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows -> [Float] {
  var out = [Float](repeating: .nan, count: x.count)
  try x.withUnsafeBufferPointer { xb in try out.withUnsafeMutableBufferPointer { try body(xb, $0) } }
  return out
}

/// Runs a kernel that also writes a UInt8 mask.
private func runMasked(
  _ x: [Float],
  _ body: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<UInt8>) throws -> Void
) rethrows -> (out: [Float], mask: [UInt8]) {
  var out = [Float](repeating: .nan, count: x.count)
  var mask = [UInt8](repeating: 7, count: x.count)
  try x.withUnsafeBufferPointer { xb in
    try out.withUnsafeMutableBufferPointer { ob in try mask.withUnsafeMutableBufferPointer { try body(xb, ob, $0) } }
  }
  return (out, mask)
}

private func applyMask(_ g: [Float], _ mask: [UInt8], _ zero: STE.MaskedZero) throws -> [Float] {
  var out = [Float](repeating: .nan, count: g.count)
  try g.withUnsafeBufferPointer { gb in
    try mask.withUnsafeBufferPointer { mb in
      try out.withUnsafeMutableBufferPointer { try STE.applyMask(gb, mask: mb, into: $0, maskedZero: zero) }
    }
  }
  return out
}

/// Deterministic NumericsTestRNG generator for test data.
private struct NumericsTestRNG: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Random test data with ties, zeros, signed zeros, large and tiny values mixed in.
private func testData(_ n: Int, seed: UInt64, scale: Float = 3) -> [Float] {
  var rng = NumericsTestRNG(seed: seed)
  let specials: [Float] = [0, -0.0, 0.5, -0.5, 1.5, -2.5, 1e-7, -1e-7, 1e6, -1e6, 448, 464, -6, 5, 0.25, 0x1p-10]
  return (0..<n).map { i in
    switch i % 5 {
    case 0: return specials[Int(rng.next() % UInt64(specials.count))] * (i % 2 == 0 ? 1 : scale / 8)
    case 1: return Float(Int(rng.next() % 64) - 32) * 0.125 * scale
    default: return (Float(rng.next() % 2_000_001) / 1_000_000 - 1) * scale * 2
    }
  }
}
