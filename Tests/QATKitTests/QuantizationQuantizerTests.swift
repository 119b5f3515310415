import Foundation
import Testing
import QATTestSupport
@testable import QATKit

/// A golden file's tensors (see Fixtures/conformance/README.md).
private struct Golden {
  let raw: [String: Any]
  init(_ name: String) throws {
    let data = try Fixtures.data("conformance/\(name)", in: .module)
    raw = try JSONSerialization.jsonObject(with: data) as! [String: Any]
  }
  func tensor(_ key: String) -> Tensor {
    let t = raw[key] as! [String: Any]
    let shape = (t["shape"] as! [NSNumber]).map(\.intValue)
    let data = (t["data"] as! [NSNumber]).map { Float($0.doubleValue) }
    return Tensor(shape: shape, storage: data)
  }
}

private func bitsEqual(_ a: [Float], _ b: [Float]) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0 == 0 && $1 == 0) }
}

@Suite("Quantization: TensorQuantizer")
struct QuantizationQuantizerTests {
  /// Forward and both STE gradients of a golden file through the quantizer.
  private func checkGolden(_ file: String, _ attrs: QuantizerAttributes) throws {
    let g = try Golden(file)
    for passThrough in [true, false] {
      var a = attrs
      a.passThroughSTE = passThrough
      let q = try TensorQuantizer(attributes: a)
      try q.setAmax(g.tensor("amax"))
      let x = g.tensor("input")
      x.requiresGrad = true
      let y = q(x)
      #expect(bitsEqual(y.scalars, g.tensor("output").scalars), "\(file) forward")
      y.backward(g.tensor("grad_output"))
      let key = passThrough ? "grad_input_pass_through_bwd_true" : "grad_input_pass_through_bwd_false"
      #expect(x.grad?.scalars == g.tensor(key).scalars, "\(file) \(key)")
    }
  }

  @Test func goldenInt8PerChannel() throws {
    try checkGolden("modelopt_int8_per_channel_axis0.json", .int(8, axis: 0))
  }

  @Test func goldenInt4PerChannelNarrow() throws {
    var a = QuantizerAttributes.int(4, axis: 0)
    a.narrowRange = true
    try checkGolden("modelopt_int4_per_channel_axis0_narrow.json", a)
  }

  @Test func goldenFP8PerTensor() throws {
    try checkGolden("modelopt_fp8_e4m3_per_tensor_amax2.5.json", QuantizerAttributes(format: .e4m3))
  }

  @Test func goldenNVFP4ThroughQuantizer() throws {
    let g = try Golden("modelopt_nvfp4_block16.json")
    let x = g.tensor("input")
    let q = try TensorQuantizer(attributes: QuantizerAttributes(format: .nvfp4))
    try q.setAmax(Tensor(scalar: x.absMax()))
    #expect(bitsEqual(q(x).scalars, g.tensor("output").scalars))
    // Export reproduces the same values.
    let e = try q.export(x)
    #expect(e.dequantize().scalars == g.tensor("output").scalars)
    #expect(e.codes.count == x.count / 2)
  }

  @Test func uncalibratedStaticUsesDynamicRange() throws {
    let g = try Golden("modelopt_int8_per_tensor_dynamic_amax.json")
    let q = try TensorQuantizer(attributes: .int(8))
    #expect(bitsEqual(q(g.tensor("input")).scalars, g.tensor("output").scalars))
  }

  @Test func clippedSTEMatchesFiniteDifferencesAwayFromSteps() throws {
    // Away from rounding boundaries the fake-quant function is locally constant inside the range,
    // so the true derivative is 0 there; the STE by design gives 1 inside and 0 outside. Check the
    // mask exactly and the outside-region gradient against a finite difference of the clip.
    let q = try TensorQuantizer(attributes: QuantizerAttributes(format: .int8, passThroughSTE: false))
    try q.setAmax(Tensor(scalar: 1))
    let x = Tensor([-3, -1, -0.5, 0.3, 1, 1.0001, 2], requiresGrad: true)
    (q(x) * Tensor([1, 2, 3, 4, 5, 6, 7])).sum().backward()
    #expect(x.grad?.scalars == [0, 2, 3, 4, 5, 0, 0])
    let eps: Float = 1e-3
    for i in [0, 6] {
      var xp = x.scalars, xm = x.scalars
      xp[i] += eps
      xm[i] -= eps
      let fd = (q(Tensor(xp)).scalars[i] - q(Tensor(xm)).scalars[i]) / (2 * eps)
      #expect(fd == x.grad!.scalars[i])
    }
  }

  @Test func passThroughSTEIsIdentityGradient() throws {
    let q = try TensorQuantizer(attributes: .int(4))
    try q.setAmax(Tensor(scalar: 1))
    let x = Tensor([-3, -1, 0.2, 5], requiresGrad: true)
    q(x).sum().backward()
    #expect(x.grad?.scalars == [1, 1, 1, 1])
  }

  @Test func allZeroCalibrationGivesZeroRangeAndZeroOutput() throws {
    let q = try TensorQuantizer(attributes: .int(8))
    q.beginCalibration(MaxCalibrator())
    _ = q(Tensor.zeros([4, 4]))
    try q.endCalibration()
    #expect(q.amax?.scalars == [0])
    #expect(q(Tensor([1, -2, 3])).scalars.allSatisfy { $0 == 0 })
  }

  @Test func perChannelAndPerBlockStateShapes() throws {
    var rng = RandomGenerator(seed: 42)
    let w = Tensor.uniform([6, 8], low: -1, high: 1, using: &rng)
    let pc = try TensorQuantizer(attributes: .int(8, axis: 0))
    pc.beginCalibration(MaxCalibrator())
    _ = pc(w)
    try pc.endCalibration()
    #expect(pc.amax?.shape == [6, 1])
    #expect(pc.amax?.scalars == (0..<6).map { r in w.scalars[(r * 8)..<(r * 8 + 8)].map(abs).max()! })
    let pb = try TensorQuantizer(attributes: .int(4, blockSize: 4))
    pb.beginCalibration(MaxCalibrator())
    _ = pb(w)
    try pb.endCalibration()
    // ModelOpt's static block layout: one range per block of the flat tensor, `[blocks, 1]`.
    #expect(pb.amax?.shape == [12, 1])
    #expect(pb.amax?.scalars == (0..<12).map { b in w.scalars[(b * 4)..<(b * 4 + 4)].map(abs).max()! })
    let last = try TensorQuantizer(attributes: .int(8, axis: -1))
    last.beginCalibration(MaxCalibrator())
    _ = last(w)
    try last.endCalibration()
    #expect(last.amax?.shape == [1, 8])
  }

  @Test func preQuantScaleMultipliesTheInputFirst() throws {
    var rng = RandomGenerator(seed: 43)
    let x = Tensor.randn([3, 4], using: &rng)
    let s: [Float] = [0.5, 2, 1, 4]
    let q = try TensorQuantizer(attributes: .int(8))
    try q.setAmax(Tensor(scalar: 3))
    let plain = try TensorQuantizer(attributes: .int(8))
    try plain.setAmax(Tensor(scalar: 3))
    try q.setPreQuantScale(Tensor(s))
    let scaled = Tensor(shape: x.shape, storage: x.scalars.enumerated().map { $1 * s[$0 % 4] })
    #expect(q(x).scalars == plain(scaled).scalars)
    #expect(try q.export(x).dequantize().scalars == q(x).scalars)
    #expect(q.stateTensors().map(\.0) == ["_amax", "_pre_quant_scale"])
    #expect(throws: QuantizerError.self) { try q.setPreQuantScale(Tensor([1, 0, 1, 1])) }
    #expect(throws: QuantizerError.self) { try q.setPreQuantScale(Tensor(shape: [2, 2], storage: [1, 1, 1, 1])) }
    let fresh = try TensorQuantizer(attributes: .int(8))
    try fresh.allocateState(shapes: ["_amax": [], "_pre_quant_scale": [4]])
    #expect(fresh.preQuantScale?.shape == [4])
    #expect(throws: QuantizerError.self) { try fresh.allocateState(shapes: ["_pre_quant_scale": [2, 2]]) }
    // The gradient reaches the input through the scale (pass-through STE times s).
    let xg = x.copy()
    xg.requiresGrad = true
    q(xg).sum().backward()
    #expect(xg.grad?.scalars == (0..<12).map { s[$0 % 4] })
  }

  @Test func exportRoundTripAllFormats() throws {
    var rng = RandomGenerator(seed: 44)
    let w = Tensor.randn([4, 64], using: &rng)
    let formats: [QuantizerAttributes] = [
      .int(8, axis: 0), .int(4, axis: 0), .int(4, blockSize: 16), .int(3), .int(2, axis: 0), .int(8, signed: false),
      QuantizerAttributes(format: .e4m3), QuantizerAttributes(format: .e5m2, axis: 0), QuantizerAttributes(format: .nvfp4),
      QuantizerAttributes(format: .mxfp4), QuantizerAttributes(format: .mxfp8),
    ]
    for a in formats {
      let q = try TensorQuantizer(attributes: a)
      if a.format.usesAmax {
        q.beginCalibration(MaxCalibrator())
        _ = q(w)
        try q.endCalibration()
      }
      let e = try q.export(w)
      #expect(e.dequantize().scalars == q(w).scalars, "\(a.format) \(a.granularity)")
      #expect(e.codes.count == (a.format.codeBits <= 4 ? w.count / 2 : w.count))
    }
  }
}
