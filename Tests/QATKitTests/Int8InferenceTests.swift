import Foundation
import QATTestSupport
import QATPluginTesting
import Testing

@testable import QATKit

/// The integer GEMM kernels (every instruction set this CPU has) against the plain reference, bit
/// for bit, and the integer digits MLP against the fake-quantized model it comes from.
@Suite("Integer inference")
struct Int8InferenceTests {
  static var instructionSets: [Int8InstructionSet] { Int8InstructionSet.allCases.filter(\.isSupported) }

  /// A layer with random codes, ranges and bias, and the signed input codes it will see.
  static func randomLayer(n: Int, k: Int, seed: UInt64, bias: Bool, extreme: Bool = false) -> (Int8Linear, [Int8]) {
    var rng = RandomGenerator(seed: seed)
    let weights: [Int8] = (0..<(n * k)).map { _ in extreme ? -128 : Int8(truncatingIfNeeded: rng.nextInt(below: 256) - 128) }
    let amax = (0..<n).map { _ in 0.05 + rng.nextUniform() }
    let b: [Float]? = bias ? (0..<n).map { _ in rng.nextNormal() } : nil
    let layer = Int8Linear(
      weightCodes: weights, outFeatures: n, inFeatures: k, weightAmax: amax, inputAmax: 3 + rng.nextUniform(),
      narrowInput: false, bias: b)
    return (layer, weights)
  }

  /// Runs `layer` on signed input codes through `run` (the C kernels) and returns floats and the
  /// next layer's signed codes.
  static func runKernel(
    _ layer: Int8Linear, codes: [Int32], rows: Int, activation: Int8Activation, isa: Int8InstructionSet,
    nextMultiplier: Float, floats: Bool, requantize: Bool
  ) -> ([Float], [Int32]) {
    let k = layer.inFeatures, d = layer.depth, n = layer.outFeatures
    var a = [UInt8](repeating: 77, count: rows * d)  // padding bytes: arbitrary, they meet zero weights
    for r in 0..<rows { for i in 0..<k { a[r * d + i] = UInt8(codes[r * k + i] + 128) } }
    var out = [Float](repeating: .nan, count: floats ? rows * n : 0)
    var next = [UInt8](repeating: 0, count: requantize ? rows * (n + 3) : 0)
    a.withUnsafeBufferPointer { pa in
      out.withUnsafeMutableBufferPointer { po in
        next.withUnsafeMutableBufferPointer { pn in
          layer.run(
            pa.baseAddress!, rows: rows, activation: activation, isa: isa, out: floats ? po.baseAddress : nil,
            codes: requantize ? pn.baseAddress : nil, ldCodes: n + 3, nextMultiplier: nextMultiplier, nextMin: -128)
        }
      }
    }
    var signed: [Int32] = []
    if requantize { for r in 0..<rows { for c in 0..<n { signed.append(Int32(next[r * (n + 3) + c]) - 128) } } }
    return (out, signed)
  }

  static let shapes: [(rows: Int, n: Int, k: Int)] = [
    (1, 1, 1), (1, 10, 64), (3, 33, 5), (8, 32, 4), (9, 47, 67), (17, 70, 130), (2, 256, 256), (13, 96, 3),
    (40, 64, 300),  // enough work to split over threads
    (75, 24, 4100),  // depth 4100: the VNNI kernel's row blocks (56 rows) end inside each thread's range
  ]

  @Test("integer GEMM + epilogue equals the reference bit for bit on every instruction set")
  func kernelsMatchReference() {
    for isa in Self.instructionSets {
      for (i, (rows, n, k)) in Self.shapes.enumerated() {
        for (j, activation) in [Int8Activation.none, .relu, .gelu].enumerated() {
          let seed = UInt64(1000 + 10 * i + j)
          let (layer, weights) = Self.randomLayer(n: n, k: k, seed: seed, bias: j != 1)
          var rng = RandomGenerator(seed: seed + 5)
          let codes = (0..<(rows * k)).map { _ in Int32(rng.nextInt(below: 256) - 128) }
          let multiplier: Float = 20
          let want = Int8Reference.linear(
            codes: codes, rows: rows, k: k, weights: weights, n: n, dequant: layer.dequant, bias: layer.bias,
            activation: activation, nextMultiplier: multiplier)
          let label = "\(isa) rows \(rows) n \(n) k \(k) \(activation)"
          let (floats, next) = Self.runKernel(
            layer, codes: codes, rows: rows, activation: activation, isa: isa, nextMultiplier: multiplier, floats: true,
            requantize: true)
          #expect(floats.map(\.bitPattern) == want.values.map(\.bitPattern), "floats \(label)")
          #expect(next == want.codes, "codes \(label)")
          // Codes only (the chained-layer path) must not depend on the float output being written.
          let (_, only) = Self.runKernel(
            layer, codes: codes, rows: rows, activation: activation, isa: isa, nextMultiplier: multiplier, floats: false,
            requantize: true)
          #expect(only == want.codes, "codes only \(label)")
        }
      }
    }
  }

  @Test("extreme codes: 255 × −128 products sum exactly (no 16-bit saturation)")
  func extremeCodes() {
    for isa in Self.instructionSets {
      let (rows, n, k) = (3, 40, 257)
      let (layer, weights) = Self.randomLayer(n: n, k: k, seed: 9, bias: false, extreme: true)
      let codes = [Int32](repeating: 127, count: rows * k)
      let want = Int8Reference.linear(
        codes: codes, rows: rows, k: k, weights: weights, n: n, dequant: layer.dequant, bias: nil, activation: .none,
        nextMultiplier: nil)
      let (floats, _) = Self.runKernel(
        layer, codes: codes, rows: rows, activation: .none, isa: isa, nextMultiplier: 0, floats: true, requantize: false)
      #expect(floats.map(\.bitPattern) == want.values.map(\.bitPattern), "\(isa)")
      // Σ = 257 · 127 · −128 exactly.
      #expect(floats[0] == Float(257 * 127 * -128) * layer.dequant[0], "\(isa)")
    }
  }

  @Test("input quantization equals the input quantizer's codes (ties to even, clamping, narrow range)")
  func inputCodes() throws {
    var rng = RandomGenerator(seed: 4)
    var x = (0..<203).map { _ in 4 * rng.nextNormal() }
    x += [0.5 / 31.75, 1.5 / 31.75, -2.5 / 31.75, 1000, -1000, 0, -0.0]  // ties after scaling, saturation
    let amax: Float = 4
    for narrow in [false, true] {
      let layer = Int8Linear(
        weightCodes: [Int8](repeating: 1, count: x.count), outFeatures: 1, inFeatures: x.count, weightAmax: [1],
        inputAmax: amax, narrowInput: narrow, bias: nil)
      var attributes = QuantizerAttributes.int(8)
      attributes.narrowRange = narrow
      let q = try TensorQuantizer(attributes: attributes)
      try q.setAmax(Tensor(scalar: amax))
      let fake = Tensor.withoutGrad { q(Tensor(x)) }.scalars
      for isa in Self.instructionSets {
        let codes = layer.quantizeInput(x, rows: 1, isa: isa)
        let decoded = (0..<x.count).map { Float(Int(codes[$0]) - 128) / layer.inputMultiplier }
        #expect(decoded == fake, "\(isa) narrow \(narrow)")
        #expect(codes[x.count..<layer.depth].allSatisfy { $0 == 128 })
      }
    }
  }

  /// The PyTorch-trained digits MLP (fixture), quantized with the int8 preset and max
  /// calibration on the training rows.
  static func quantizedDigitsMLP() throws -> (MLP, Dataset) {
    let model = MLP([64, 256, 256, 10], seed: 123)
    try model.loadSafeTensors(from: Fixtures.url("models/mlp_digits_fp32.safetensors", in: .module))
    let (train, test) = try Digits.load()
    let batches = try train.batches(size: 256)
    let context = ModeContext(forwardLoop: { m in Tensor.withoutGrad { for b in batches { _ = m(b.inputs) } } })
    _ = try QuantizeMode.convert(model, config: QuantizeConfig(preset: .int8), context: context)
    model.eval()
    return (model, test)
  }

  @Test("the digits MLP on integers: logits within the stated rounding, identical predictions and accuracy")
  func digitsMLP() throws {
    let (model, test) = try Self.quantizedDigitsMLP()
    let x = test.all.inputs
    let fake = Tensor.withoutGrad { model(x) }
    for isa in Self.instructionSets {
      let int8 = try Int8InferenceModel(model, instructionSet: isa)
      #expect(int8.activations == [.relu, .relu, .none])
      let logits = int8(x)
      #expect(logits.shape == fake.shape)
      // README, "Integer inference": |Δ| ≤ 1e-3 · (1 + max |logit|) on this model (measured 3e-4).
      let scale = 1 + (fake.scalars.map { Swift.abs($0) }.max() ?? 0)
      let diff = maxAbsDifference(logits.scalars, fake.scalars)
      #expect(diff <= 1e-3 * scale, "\(isa): max |Δ| \(diff), logit scale \(scale)")
      #expect(logits.argmax(axis: -1) == fake.argmax(axis: -1), "\(isa)")
      let accInt = zip(logits.argmax(axis: -1), test.labels).filter { $0 == $1 }.count
      let accFake = zip(fake.argmax(axis: -1), test.labels).filter { $0 == $1 }.count
      #expect(accInt == accFake, "\(isa)")
      // Batch 1 and a batch of 1 row inside a larger one give the same numbers.
      let one = int8(test.prefix(1).all.inputs)
      #expect(one.scalars == Array(logits.scalars[0..<10]))
    }
  }

  @Test("the chained model equals the reference pipeline (codes between layers) bit for bit")
  func chainedModelMatchesReference() throws {
    let (model, test) = try Self.quantizedDigitsMLP()
    let x = test.prefix(37).all.inputs
    let int8 = try Int8InferenceModel(model)
    let exported = try exportQuantized(model)
    var codes = x.scalars.map { Int8Reference.quantize($0, multiplier: int8.layers[0].inputMultiplier, minCode: -128) }
    var out: [Float] = []
    for (i, layer) in int8.layers.enumerated() {
      let w = exported["fc\(i + 1).weight"]!.codes.map { Int8(bitPattern: $0) }
      let next = i + 1 < int8.layers.count ? int8.layers[i + 1].inputMultiplier : nil
      let r = Int8Reference.linear(
        codes: codes, rows: 37, k: layer.inFeatures, weights: w, n: layer.outFeatures, dequant: layer.dequant,
        bias: layer.bias, activation: int8.activations[i], nextMultiplier: next)
      codes = r.codes
      out = r.values
    }
    #expect(int8(x).scalars.map(\.bitPattern) == out.map(\.bitPattern))
  }

  @Test("models and layers that cannot run on integers throw descriptive errors")
  func errors() throws {
    // Not quantized at all.
    #expect(throws: Int8InferenceError.self) { try Int8InferenceModel(MLP([4, 3])) }
    // Weight-only quantization: no input codes.
    let weightOnly = MLP([4, 3])
    _ = try QuantizeMode.convert(weightOnly, config: QuantizeConfig(preset: .int8WeightOnly), context: ModeContext())
    do {
      _ = try Int8InferenceModel(weightOnly)
      Issue.record("expected an error")
    } catch {
      #expect(error.description.contains("fc1") && error.description.contains("input is not quantized"))
    }
    // A layer type without an integer kernel.
    let conv = Sequential([Conv2d(1, 1, kernel: 1)])
    #expect(throws: Int8InferenceError.self) { try Int8InferenceModel(conv) }
    // INT4 weights.
    let int4 = MLP([4, 3])
    var rng = RandomGenerator(seed: 42)
    let data = Tensor.randn([8, 4], using: &rng)
    _ = try QuantizeMode.convert(
      int4, config: .weightsAndActivations(weights: .int(4, axis: 0), activations: .int(8)),
      context: ModeContext(forwardLoop: { m in _ = Tensor.withoutGrad { m(data) } }))
    do {
      _ = try Int8InferenceModel(int4)
      Issue.record("expected an error")
    } catch {
      #expect(error.description.contains("int4"))
    }
  }
}

/// INT4 weight-only layers (dequantized inside the GEMM) against a `Double` reference and the
/// fake-quantized model.
@Suite("INT4 weight-only inference")
struct Int4WeightOnlyTests {
  @Test("the INT4 GEMM matches a Double reference on every instruction set")
  func kernelsMatchReference() {
    let shapes: [(rows: Int, n: Int, k: Int, block: Int)] = [
      (1, 1, 32, 32), (1, 10, 64, 64), (3, 33, 128, 32), (5, 7, 256, 128), (9, 40, 96, 32), (4, 300, 64, 64),
    ]
    for isa in Int8InstructionSet.allCases where isa.isSupported {
      for (i, (rows, n, k, block)) in shapes.enumerated() {
        var rng = RandomGenerator(seed: UInt64(90 + i))
        let q = (0..<(n * k)).map { _ in rng.nextInt(below: 16) - 8 }
        var codes = [UInt8](repeating: 0, count: n * k / 2)
        for (j, v) in q.enumerated() { codes[j / 2] |= (UInt8(truncatingIfNeeded: v) & 15) << (j % 2 == 0 ? 0 : 4) }
        let amax = (0..<(n * k / block)).map { _ in 0.1 + rng.nextUniform() }
        let bias = (0..<n).map { _ in rng.nextNormal() }
        let x = (0..<(rows * k)).map { _ in rng.nextNormal() }
        let layer = Int4WeightOnlyLinear(codes: codes, outFeatures: n, inFeatures: k, blockSize: block, blockAmax: amax, bias: bias)
        for activation in [Int8Activation.none, .relu, .gelu] {
          let got = layer(Tensor(shape: [rows, k], storage: x), activation: activation, instructionSet: isa).scalars
          for r in 0..<rows {
            for c in 0..<n {
              var s = 0.0, mag = 0.0
              for j in 0..<k {
                let w = Double(q[c * k + j]) * Double(amax[(c * k + j) / block] / 7)
                s += Double(x[r * k + j]) * w
                mag += Swift.abs(Double(x[r * k + j]) * w)
              }
              var y = s + Double(bias[c])
              switch activation {
              case .none: break
              case .relu: y = Swift.max(y, 0)
              case .gelu: y = 0.5 * y * (1 + erf(y / 2.0.squareRoot()))
              }
              let tol = 1e-6 * (mag + Swift.abs(Double(bias[c])) + 1)
              #expect(Swift.abs(Double(got[r * n + c]) - y) <= tol, "\(isa) rows \(rows) n \(n) k \(k) \(activation) [\(r), \(c)]")
            }
          }
        }
      }
    }
  }

  @Test("the digits MLP with INT4 weights (blocks of 64): logits within rounding, identical predictions")
  func digitsMLP() throws {
    let model = MLP([64, 256, 256, 10], seed: 123)
    try model.loadSafeTensors(from: Fixtures.url("models/mlp_digits_fp32.safetensors", in: .module))
    let test = try Digits.load().test
    _ = try QuantizeMode.convert(
      model, config: .weightsAndActivations(weights: .int(4, blockSize: 64), activations: nil), context: ModeContext())
    model.eval()
    let x = test.all.inputs
    let fake = Tensor.withoutGrad { model(x) }
    for isa in Int8InstructionSet.allCases where isa.isSupported {
      let w4 = try Int4WeightOnlyModel(model, instructionSet: isa)
      let y = w4(x)
      let scale = 1 + (fake.scalars.map { Swift.abs($0) }.max() ?? 0)
      #expect(maxAbsDifference(y.scalars, fake.scalars) <= 1e-5 * scale, "\(isa)")
      #expect(y.argmax(axis: -1) == fake.argmax(axis: -1), "\(isa)")
    }
    // An input quantizer makes the layer more than weight-only.
    #expect(throws: Int8InferenceError.self) {
      let m = MLP([64, 10])
      var rng = RandomGenerator(seed: 3)
      let data = Tensor.randn([4, 64], using: &rng)
      _ = try QuantizeMode.convert(
        m, config: .weightsAndActivations(weights: .int(4, blockSize: 32), activations: .int(8)),
        context: ModeContext(forwardLoop: { m in _ = Tensor.withoutGrad { m(data) } }))
      _ = try Int4WeightOnlyModel(m)
    }
  }
}
