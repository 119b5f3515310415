import QATPluginTesting
import Testing

@testable import QATKit

/// `Linear.ForwardPath`: the integer forward product of an INT8-quantized `Linear` against the float
/// fake-quantized reference path and a plain double-precision sum of the fake-quantized values.
@Suite("Linear: integer forward GEMMs while training")
struct LinearIntegerForwardTests {
  static var instructionSets: [Int8InstructionSet] { Int8InstructionSet.allCases.filter(\.isSupported) }

  struct Case: CustomStringConvertible, Sendable {
    var k: Int, n: Int, bias: Bool, perChannel: Bool, narrow: Bool, clippedSTE: Bool
    var description: String { "k \(k) n \(n) bias \(bias) perChannel \(perChannel) narrow \(narrow) clipped \(clippedSTE)" }
  }

  static let cases: [Case] = [
    Case(k: 16, n: 8, bias: true, perChannel: true, narrow: false, clippedSTE: false),
    Case(k: 7, n: 33, bias: false, perChannel: true, narrow: true, clippedSTE: true),  // depth padded to 8; two panels
    Case(k: 12, n: 5, bias: true, perChannel: false, narrow: false, clippedSTE: true),
  ]

  /// A `Linear` with an INT8 per-tensor input quantizer (range below the input's largest values, so
  /// some inputs clip) and an INT8 weight quantizer per output channel or per tensor (ranges 0.9 of
  /// the largest weight, so some weights clip too).
  static func quantizedLinear(_ c: Case, seed: UInt64) throws -> Linear {
    let layer = Linear(c.k, c.n, bias: c.bias, seed: seed)
    var ia = QuantizerAttributes.int(8)
    ia.narrowRange = c.narrow
    ia.passThroughSTE = !c.clippedSTE
    let iq = try TensorQuantizer(attributes: ia)
    try iq.setAmax(Tensor(scalar: 2.5))
    var wa = QuantizerAttributes.int(8, axis: c.perChannel ? 0 : nil)
    wa.narrowRange = c.narrow
    wa.passThroughSTE = !c.clippedSTE
    let wq = try TensorQuantizer(attributes: wa)
    let w = layer.weight.scalars
    let rows = (0..<c.n).map { r in w[(r * c.k)..<((r + 1) * c.k)].map(abs).max()! * 0.9 }
    try wq.setAmax(c.perChannel ? Tensor(rows, shape: [c.n, 1]) : Tensor(scalar: rows.max()!))
    layer.setQuantizer(iq, slot: "input_quantizer")
    layer.setQuantizer(wq, slot: "weight_quantizer")
    return layer
  }

  /// Forward values and the gradients of input, weight and bias under the loss `Σ y·r` (a fixed
  /// `r`, so the gradient reaching the layer is `r` on both paths).
  static func step(_ layer: Linear, _ x0: Tensor, _ r: Tensor, _ path: Linear.ForwardPath) -> (y: [Float], grads: [[Float]]) {
    let x = x0.detach()
    x.requiresGrad = true
    layer.weight.zeroGrad()
    layer.bias?.zeroGrad()
    let y = Linear.withForwardPath(path) { layer(x) }
    (y * r).sum().backward()
    let grads = [x.grad?.scalars ?? [], layer.weight.grad?.scalars ?? [], layer.bias?.grad?.scalars ?? []]
    return (y.scalars, grads)
  }

  @Test("values within float rounding of the fake-quantized product, gradients bitwise equal", arguments: cases)
  func matchesFloatPath(_ c: Case) throws {
    let layer = try Self.quantizedLinear(c, seed: 3)
    let x = GradientCheck.randn([2, 3, c.k], seed: 5, std: 1.2)
    let r = GradientCheck.randn([2, 3, c.n], seed: 6)
    let reference = Self.step(layer, x, r, .float)
    // The fake-quantized operands, summed in double precision.
    let (xq, wq) = Tensor.withoutGrad {
      (layer.quantizer(slot: "input_quantizer")!(x).scalars, layer.quantizer(slot: "weight_quantizer")!(layer.weight).scalars)
    }
    let b = layer.bias?.scalars ?? [Float](repeating: 0, count: c.n)
    for isa in Self.instructionSets {
      let fast = Self.step(layer, x, r, .integer(isa))
      #expect(fast.y.count == reference.y.count)
      for row in 0..<6 {
        for col in 0..<c.n {
          var exact = 0.0, magnitude = 0.0
          for i in 0..<c.k {
            let p = Double(xq[row * c.k + i]) * Double(wq[col * c.k + i])
            exact += p
            magnitude += abs(p)
          }
          exact += Double(b[col])
          // The integer sum is exact and rounds about three times; the float one rounds every term.
          let scale = magnitude + abs(Double(b[col]))
          #expect(abs(Double(fast.y[row * c.n + col]) - exact) <= 3e-7 * scale + 1e-12, "\(isa) \(c) [\(row), \(col)]")
          #expect(
            abs(Double(reference.y[row * c.n + col]) - exact) <= Double(c.k + 2) * 1.2e-7 * scale + 1e-12,
            "float \(c) [\(row), \(col)]")
        }
      }
      #expect(fast.grads == reference.grads, "\(isa) \(c)")
      #expect(fast.grads[0].count == x.count && fast.grads[1].count == c.n * c.k)
    }
    // The clipped straight-through estimator zeroes some input gradients: the test sees clipping.
    if c.clippedSTE { #expect(reference.grads[0].contains(0)) }
  }

  @Test("weights quantized and packed in one pass: the weight quantizer's codes, packed as Int8Linear packs them")
  func packedWeights() throws {
    for (n, k, narrow) in [(33, 7, false), (8, 16, true), (64, 40, false), (96, 2048, false)] {  // the last: panels in parallel
      let w = GradientCheck.randn([n, k], seed: UInt64(n), std: 0.3)
      // Ranges 0.8 of each row's largest weight: the largest ones clip to ±127 (−128 without narrow).
      let amax = (0..<n).map { r in w.scalars[(r * k)..<((r + 1) * k)].map(abs).max()! * 0.8 }
      var attributes = QuantizerAttributes.int(8, axis: 0)
      attributes.narrowRange = narrow
      let q = try TensorQuantizer(attributes: attributes)
      try q.setAmax(Tensor(amax, shape: [n, 1]))
      let fake = Tensor.withoutGrad { q(w) }.scalars
      let codes = (0..<(n * k)).map { Int8(Int((fake[$0] * (127 / amax[$0 / k])).rounded())) }
      #expect(codes.contains(narrow ? -127 : -128) && !codes.contains(-128) == narrow)
      let expected = Int8Linear(
        weightCodes: codes, outFeatures: n, inFeatures: k, weightAmax: amax, inputAmax: 3, narrowInput: false, bias: nil)
      for isa in Self.instructionSets {
        let got = Linear.integerLayer(
          w, amax: amax, narrow: narrow, inputMultiplier: 127 / 3, inputMinCode: -128, bias: nil, isa: isa)
        #expect(got.packed == expected.packed, "\(isa) n \(n) k \(k)")
        #expect(got.correction == expected.correction && got.dequant == expected.dequant, "\(isa) n \(n) k \(k)")
        #expect(got.depth == expected.depth && got.inputMultiplier == expected.inputMultiplier)
      }
    }
  }

  @Test("input codes of a large input (row ranges in parallel) equal row-by-row quantization")
  func parallelInputCodes() {
    let (rows, k) = (300, 514)
    let x = GradientCheck.randn([rows, k], seed: 12, std: 2).scalars
    let layer = Int8Linear(
      weightCodes: [Int8](repeating: 1, count: k), outFeatures: 1, inFeatures: k, weightAmax: [1], inputAmax: 3,
      narrowInput: true, bias: nil)
    for isa in Self.instructionSets {
      let all = layer.quantizeInput(x, rows: rows, isa: isa)
      let byRow = (0..<rows).flatMap { r in layer.quantizeInput(Array(x[(r * k)..<((r + 1) * k)]), rows: 1, isa: isa) }
      #expect(all == byRow, "\(isa)")
      #expect(all.count == rows * layer.depth && layer.depth == 516)
    }
  }

  @Test("the integer product runs only where it applies; otherwise the float path, bit for bit")
  func fallsBack() throws {
    let c = Case(k: 8, n: 4, bias: true, perChannel: true, narrow: false, clippedSTE: false)
    let x = GradientCheck.randn([3, c.k], seed: 8)
    let r = GradientCheck.randn([3, c.n], seed: 9)
    guard let isa = Self.instructionSets.last else { return }

    // A dynamic input range, an uncalibrated input quantizer, an INT4 weight: the float path.
    var dynamic = QuantizerAttributes.int(8)
    dynamic.dynamic = true
    let uncalibrated = QuantizerAttributes.int(8)
    let int4Weight = QuantizerAttributes.int(4, axis: 0)
    for (slot, attributes) in [("input_quantizer", dynamic), ("input_quantizer", uncalibrated), ("weight_quantizer", int4Weight)] {
      let layer = try Self.quantizedLinear(c, seed: 10)
      let q = try TensorQuantizer(attributes: attributes)
      if slot == "weight_quantizer" { try q.setAmax(Tensor([Float](repeating: 0.3, count: c.n), shape: [c.n, 1])) }
      layer.setQuantizer(q, slot: slot)
      let reference = Self.step(layer, x, r, .float)
      let fast = Self.step(layer, x, r, .integer(isa))
      #expect(fast.y == reference.y && fast.grads == reference.grads, "\(slot) \(attributes.format)")
    }

    // `.automatic` without recording gradients (evaluation): the float path.
    let layer = try Self.quantizedLinear(c, seed: 11)
    let evalAuto = Tensor.withoutGrad { Linear.withForwardPath(.automatic) { layer(x) } }.scalars
    let evalFloat = Tensor.withoutGrad { Linear.withForwardPath(.float) { layer(x) } }.scalars
    #expect(evalAuto == evalFloat)
    // ... and with them, on a CPU with VNNI, the integer path (bitwise its values).
    if Int8InstructionSet.avx512VNNI.isSupported {
      let auto = Self.step(layer, x, r, .automatic)
      let vnni = Self.step(layer, x, r, .integer(.avx512VNNI))
      #expect(auto.y == vnni.y && auto.grads == vnni.grads)
    }
  }
}
