import Foundation
import QATKit
import QATPluginTesting
import QATPlugins
import QATRegistry
import QATTestSupport
import Testing

@testable import QATPluginAffine

/// The `affine` quantizer (asymmetric integers) against PyTorch's golden vectors, through the
/// kit's conformance suite, and its export.
@Suite struct AffineTests {
  struct Values: Decodable {
    let shape: [Int]
    let data: [Double]
    var floats: [Float] { data.map { Float($0) } }
  }

  /// One file of the shared conformance set (`torch_fq_*_asym*`).
  struct TorchFakeQuantFile: Decodable {
    struct Params: Decodable {
      let scale: [Double]
      let zeroPoint: [Int]
      let quantMin: Int, quantMax: Int
      let axis: Int?
      enum CodingKeys: String, CodingKey { case scale, zeroPoint = "zero_point", quantMin = "quant_min", quantMax = "quant_max", axis }
      init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let list = try? c.decode([Double].self, forKey: .scale) { scale = list } else { scale = [try c.decode(Double.self, forKey: .scale)] }
        if let list = try? c.decode([Int].self, forKey: .zeroPoint) { zeroPoint = list } else { zeroPoint = [try c.decode(Int.self, forKey: .zeroPoint)] }
        quantMin = try c.decode(Int.self, forKey: .quantMin)
        quantMax = try c.decode(Int.self, forKey: .quantMax)
        axis = try c.decodeIfPresent(Int.self, forKey: .axis)
      }
    }
    let params: Params
    let input, output, gradOutput, gradInput: Values
    enum CodingKeys: String, CodingKey { case params, input, output, gradOutput = "grad_output", gradInput = "grad_input" }
  }

  /// One case of `torch_minmax_affine.json`.
  struct ObserverCase: Decodable {
    let name, granularity: String
    let quantMin, quantMax: Int
    let input, output, gradOutput, gradInput: Values
    let scale: [Double]
    let zeroPoint: [Int]
    enum CodingKeys: String, CodingKey {
      case name, granularity, input, output, scale, quantMin = "quant_min", quantMax = "quant_max", zeroPoint = "zero_point",
        gradOutput = "grad_output", gradInput = "grad_input"
    }
  }

  static func load<T: Decodable>(_ name: String, as: T.Type) throws -> T {
    try JSONDecoder().decode(T.self, from: Fixtures.data("conformance/\(name)", in: .module))
  }

  /// The format whose code range is `[quantMin, quantMax]`.
  static func format(_ quantMin: Int, _ quantMax: Int) -> QuantFormat {
    quantMin == 0 ? .int(bits: (quantMax + 1).trailingZeroBitCount, signed: false) : .int(bits: (quantMax + 1).trailingZeroBitCount + 1, signed: true)
  }

  /// `y = q(x)` and `∂(Σ y·g)/∂x`, bit patterns.
  static func run(_ q: any Quantizer, _ x: [Float], shape: [Int], grad g: [Float]) throws -> (out: [UInt32], grad: [UInt32]) {
    let xt = try Tensor(x, shape: shape, requiresGrad: true)
    let y = q(xt)
    (y * (try Tensor(g, shape: shape))).sum().backward()
    return (y.scalars.map(\.bitPattern), try #require(xt.grad).scalars.map(\.bitPattern))
  }

  /// PyTorch's affine fake quantization with given scales and zero points, per tensor and per
  /// channel: outputs and (with `passThroughSTE: false`) gradients bit for bit.
  @Test(arguments: ["torch_fq_per_tensor_uint8_asym.json", "torch_fq_per_tensor_uint4_asym.json", "torch_fq_per_channel_uint8_asym_axis0.json"])
  func matchesTorchFakeQuantize(_ file: String) throws {
    let f = try Self.load(file, as: TorchFakeQuantFile.self)
    let p = f.params
    let q = try AffineQuantizer(
      attributes: QuantizerAttributes(format: Self.format(p.quantMin, p.quantMax), axis: p.axis, passThroughSTE: false, algorithm: "affine"))
    #expect(q.quantMin == p.quantMin && q.quantMax == p.quantMax)
    let groupShape = p.axis == nil ? [] : GroupLayout(.perChannel(axis: 0), shape: f.input.shape).amaxShape
    try q.setParameters(
      scale: Tensor(p.scale.map { Float($0) }, shape: groupShape), zeroPoint: Tensor(p.zeroPoint.map { Float($0) }, shape: groupShape))
    let (out, grad) = try Self.run(q, f.input.floats, shape: f.input.shape, grad: f.gradOutput.floats)
    #expect(out == f.output.floats.map(\.bitPattern))
    #expect(grad == f.gradInput.floats.map(\.bitPattern))
    // The pass-through STE (the default) passes every gradient.
    let pass = try AffineQuantizer(attributes: QuantizerAttributes(format: q.attributes.format, axis: p.axis, algorithm: "affine"))
    try pass.setParameters(scale: try #require(q.scale), zeroPoint: try #require(q.zeroPoint))
    let (out2, grad2) = try Self.run(pass, f.input.floats, shape: f.input.shape, grad: f.gradOutput.floats)
    #expect(out2 == out && grad2 == f.gradOutput.floats.map(\.bitPattern))
  }

  /// Min/max calibration gives PyTorch's observers' scales and zero points bit for bit (per
  /// tensor, per channel, and per block as per-channel observers over `[-1, block]` rows), and
  /// the calibrated quantizer PyTorch's outputs and gradients; export round-trips.
  @Test func calibratesLikeTorchObservers() throws {
    struct File: Decodable { let cases: [ObserverCase] }
    let file = try Self.load("torch_minmax_affine.json", as: File.self)
    #expect(file.cases.count == 7)
    for c in file.cases {
      var attributes = QuantizerAttributes(format: Self.format(c.quantMin, c.quantMax), passThroughSTE: false, algorithm: "affine")
      switch c.granularity {
      case "tensor": break
      case "channel": attributes.axis = 0
      default: attributes.blockSize = Int(c.granularity.dropFirst("block".count))
      }
      let q = try AffineQuantizer(attributes: attributes)
      let x = try Tensor(c.input.floats, shape: c.input.shape)
      q.beginCalibration(MaxCalibrator())
      if c.granularity == "tensor" {
        // Per tensor, over two batches (the range accumulates).
        _ = q(x.slice(axis: 0, 0..<2))
        _ = q(x.slice(axis: 0, 2..<x.shape[0]))
      } else {
        _ = q(x)
      }
      try q.endCalibration()
      #expect(try #require(q.scale).scalars.map(\.bitPattern) == c.scale.map { Float($0).bitPattern }, "\(c.name)")
      #expect(try #require(q.zeroPoint).scalars == c.zeroPoint.map { Float($0) }, "\(c.name)")
      let (out, grad) = try Self.run(q, c.input.floats, shape: c.input.shape, grad: c.gradOutput.floats)
      #expect(out == c.output.floats.map(\.bitPattern), "\(c.name)")
      #expect(grad == c.gradInput.floats.map(\.bitPattern), "\(c.name)")
      // Export: codes in range, dequantized bit for bit.
      let qt = try q.export(x)
      #expect(qt.isAffine && qt.zeroPoints == c.zeroPoint.map { Float($0) } && qt.scales == c.scale.map { Float($0) })
      #expect(qt.gridValues().allSatisfy { $0 >= Float(c.quantMin) && $0 <= Float(c.quantMax) && $0 == $0.rounded() })
      #expect(qt.dequantize().scalars.map(\.bitPattern) == out, "\(c.name)")
      // Dynamic ranges compute the same parameters from each input.
      attributes.dynamic = true
      let dynamic = try AffineQuantizer(attributes: attributes)
      #expect(Tensor.withoutGrad { dynamic(x) }.scalars.map(\.bitPattern) == out, "\(c.name) dynamic")
    }
  }

  /// The per-block kernel against the plain reference loop, on a block layout that a
  /// per-channel view cannot express (blocks of 4 of a `[3, 2, 8]` tensor).
  @Test func blocksMatchTheReferenceKernel() throws {
    let x = GradientCheck.randn([3, 2, 8], seed: 5, std: 2)
    let q = try AffineQuantizer(attributes: QuantizerAttributes(format: .int(bits: 4, signed: false), blockSize: 4, algorithm: "affine"))
    let y = Tensor.withoutGrad { q(x) }
    let layout = GroupLayout(.perBlock(size: 4), shape: x.shape)
    let (scales, zeroPoints) = q.currentParameters(for: x, layout: layout)
    let reference = try ReferenceKernels.torchAffine(
      x.scalars, shape: x.shape, granularity: .perBlock(size: 4), scales: scales, zeroPoints: zeroPoints, quantMin: 0, quantMax: 15)
    #expect(y.scalars.map(\.bitPattern) == reference.out.map(\.bitPattern))
    #expect(Set(zeroPoints).count > 1, "blocks get their own zero points")
  }

  /// The asymmetric grid puts all its codes on the values' side: on the digits MLP's
  /// non-negative (post-ReLU) inputs of fc2 and fc3, 4-bit `uint4` affine activations err less
  /// than symmetric `int4` with max calibration (which wastes the negative half).
  @Test func postReLUActivationsErrLessThanSymmetric() throws {
    let fp = try DigitsAlgorithmBench.model()
    let (calibration, _) = try DigitsAlgorithmBench.data()
    let affine = QuantizeConfig.weightsAndActivations(
      weights: nil, activations: QuantizerAttributes(format: .int(bits: 4, signed: false), algorithm: "affine"))
    let symmetric = QuantizeConfig.weightsAndActivations(weights: nil, activations: .int(4))
    let a = try DigitsAlgorithmBench.quantized(fp, affine, calibration: calibration)
    let s = try DigitsAlgorithmBench.quantized(fp, symmetric, calibration: calibration)
    let ea = DigitsAlgorithmBench.layerErrors(fp: fp, quantized: a, on: calibration)
    let es = DigitsAlgorithmBench.layerErrors(fp: fp, quantized: s, on: calibration)
    print("Affine uint4 vs symmetric int4 activations (digits MLP), layer errors: affine \(ea), symmetric \(es)")
    for i in 1..<3 { #expect(ea[i] < 0.5 * es[i], "fc\(i + 1)") }
    // The model restores bit for bit, and its weights export with zero points.
    let url = temporaryFileURL("affine").appendingPathExtension("safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try save(a, to: url, registry: InTreePlugins.registry)
    let fresh = MLP([64, 256, 256, 10])
    try restore(fresh, from: url, registry: InTreePlugins.registry)
    #expect(DigitsAlgorithmBench.bits(fresh) == DigitsAlgorithmBench.bits(a))
    #expect(throws: RegistryError.self) { try restore(MLP([64, 256, 256, 10]), from: url, registry: .builtin) }
  }

  /// Weights in asymmetric blocks write codes, scales and zero points to the deployment
  /// safetensors; formats and calibrators it cannot serve are refused.
  @Test func writesZeroPointsAndRefusesWhatItCannotServe() throws {
    let m = MLP([8, 16, 4], seed: 3)
    let config = QuantizeConfig.weightsAndActivations(
      weights: QuantizerAttributes(format: .int(bits: 4, signed: false), blockSize: 4, algorithm: "affine"), activations: nil)
    try convert(m, modes: [.quantize(config)], registry: InTreePlugins.registry)
    let url = temporaryFileURL("affine-deploy").appendingPathExtension("safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try writeQuantizedSafeTensors(m, to: url)
    let file = try SafeTensors.open(contentsOf: url)
    let names = Set(file.tensors.map(\.name))
    #expect(names.isSuperset(of: ["fc1.weight", "fc1.weight_scale", "fc1.weight_zero_point"]), "\(names.sorted())")
    #expect(file.tensors.first { $0.name == "fc1.weight_zero_point" }?.shape == [16, 2])
    for bad in [QuantizerAttributes(format: .e4m3, algorithm: "affine"), QuantizerAttributes(calibrator: "mse", algorithm: "affine"),
                QuantizerAttributes(algorithm: "affine", algorithmOptions: .object(["x": .number(1)]))] {
      #expect(throws: (any Error).self) { try AffineQuantizer(attributes: bad) }
    }
    let q = try AffineQuantizer(attributes: QuantizerAttributes(format: .int(bits: 8, signed: false), algorithm: "affine"))
    #expect(throws: QuantizerError.self) { try q.setParameters(scale: Tensor(scalar: 0.1), zeroPoint: Tensor(scalar: 256)) }
    #expect(throws: QuantizerError.self) { try q.setParameters(scale: Tensor(scalar: 0), zeroPoint: Tensor(scalar: 3)) }
    #expect(throws: QuantizerError.self) { try q.setParameters(scale: Tensor(scalar: 0.1), zeroPoint: Tensor(scalar: 2.5)) }
  }
}

/// `affine` through the contributor kit's conformance suite.
@Suite struct AffineConformanceTests {
  /// `y = x + detach(fq(x) − x)` with the quantizer's frozen scale and zero point per group: the
  /// pass-through STE (gradient 1 everywhere; no learned tensors).
  static let surrogate = STESurrogate { input, frozen in
    guard case .int(let bits, let signed) = input.attributes.format else { return [] }
    let (lo, hi): (Double, Double) = signed ? (-Double(1 << (bits - 1)), Double((1 << (bits - 1)) - 1)) : (0, Double((1 << bits) - 1))
    let scales = input.state["_scale"]!, zps = input.state["_zero_point"]!
    let layout = input.layout
    return input.x.enumerated().map { i, x in
      let g = layout.group(i)
      let s = Float(scales[g]), z = Float(zps[g])
      let q = Swift.min(Swift.max((Float(x) * (1 / s)).rounded(.toNearestOrEven) + z, Float(lo)), Float(hi))
      return x + frozen.detach(Double((q - z) * s) - x)
    }
  }

  @Test func conforms() {
    let report = QuantizerConformance(
      plugin: AffinePlugin.self, algorithm: "affine",
      cases: [
        .activation(QuantizerAttributes(format: .int(bits: 8, signed: false))), .weight(.int(4, signed: false, axis: 0)),
        .weight(.int(4, signed: false, blockSize: 4)), .activation(.int(8)),
      ],
      unsupported: [QuantizerAttributes(format: .e4m3), QuantizerAttributes(format: .nvfp4), .int(8, calibrator: "percentile")],
      surrogate: Self.surrogate
    ).run()
    #expect(report.passed, "\(report)")
  }
}
