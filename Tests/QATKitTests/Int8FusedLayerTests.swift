import Testing

import QATTestSupport

@testable import QATKit

/// The fused forms ``Int8BertModel`` uses: ``Int8Linear/stacked(_:)`` (one GEMM for several layers
/// on the same input codes) against the layers run one by one, and
/// ``Int8Linear/quantizeGELUInput(_:rows:isa:into:)`` against GELU then quantization, and
/// ``Int8Linear/quantizeLayerNormInput(_:plus:gamma:beta:eps:rows:isa:normalized:codes:)`` against
/// the residual add, LayerNorm and quantization, bit for bit on every instruction set.
@Suite("Integer inference: fused layers")
struct Int8FusedLayerTests {
  /// Runs `layer` on `rows` rows of input codes (+128, ``Int8Linear/depth`` bytes a row) to floats.
  static func floats(_ layer: Int8Linear, _ codes: [UInt8], rows: Int, isa: Int8InstructionSet) -> [Float] {
    var out = [Float](repeating: .nan, count: rows * layer.outFeatures)
    codes.withUnsafeBufferPointer { c in
      out.withUnsafeMutableBufferPointer { o in
        layer.run(
          c.baseAddress!, rows: rows, activation: .none, isa: isa, out: o.baseAddress, codes: nil, ldCodes: 0,
          nextMultiplier: 0, nextMin: -128)
      }
    }
    return out
  }

  /// `count` layers of `n` outputs (the last `last`) over `k` inputs with the same input range.
  static func layers(n: Int, last: Int, k: Int, count: Int, seed: UInt64) -> [Int8Linear] {
    var rng = RandomGenerator(seed: seed)
    return (0..<count).map { i in
      let width = i == count - 1 ? last : n
      let w: [Int8] = (0..<(width * k)).map { _ in Int8(truncatingIfNeeded: rng.nextInt(below: 256) - 128) }
      let amax = (0..<width).map { _ in 0.05 + rng.nextUniform() }
      let bias: [Float]? = i == 1 ? nil : (0..<width).map { _ in rng.nextNormal() }
      return Int8Linear(
        weightCodes: w, outFeatures: width, inFeatures: k, weightAmax: amax, inputAmax: 2.5, narrowInput: false, bias: bias)
    }
  }

  @Test("a stacked layer's column blocks equal each layer's output bit for bit; unstackable layers give nil")
  func stackedEqualsSeparate() throws {
    for isa in Int8InferenceTests.instructionSets {
      for (rows, n, last, k) in [(1, 32, 5, 3), (9, 64, 32, 67), (70, 32, 40, 130)] {
        let parts = Self.layers(n: n, last: last, k: k, count: 3, seed: UInt64(rows + k))
        let stacked = try #require(Int8Linear.stacked(parts))
        #expect(stacked.outFeatures == 2 * n + last)
        var rng = RandomGenerator(seed: 7)
        let x = (0..<(rows * k)).map { _ in rng.nextNormal() * 2 }
        let codes = stacked.quantizeInput(x, rows: rows, isa: isa)
        let whole = Self.floats(stacked, codes, rows: rows, isa: isa)
        var offset = 0
        for part in parts {
          #expect(part.quantizeInput(x, rows: rows, isa: isa) == codes)
          let alone = Self.floats(part, codes, rows: rows, isa: isa)
          for r in 0..<rows {
            let got = whole[(r * stacked.outFeatures + offset)..<(r * stacked.outFeatures + offset + part.outFeatures)]
            #expect(Array(got) == Array(alone[(r * part.outFeatures)..<((r + 1) * part.outFeatures)]), "\(isa) rows \(rows) n \(n) k \(k)")
          }
          offset += part.outFeatures
        }
      }
    }
    // A width that is not a multiple of the 32-column panel before the last layer, different
    // input features, a different input range: no stacking.
    #expect(Int8Linear.stacked(Self.layers(n: 12, last: 12, k: 8, count: 2, seed: 1)) == nil)
    let a = Self.layers(n: 32, last: 32, k: 8, count: 1, seed: 2)[0], b = Self.layers(n: 32, last: 32, k: 9, count: 1, seed: 3)[0]
    #expect(Int8Linear.stacked([a, b]) == nil)
    let c = Int8Linear(
      weightCodes: [Int8](repeating: 1, count: 32 * 8), outFeatures: 32, inFeatures: 8, weightAmax: [1], inputAmax: 3,
      narrowInput: false, bias: nil)
    #expect(Int8Linear.stacked([a, c]) == nil)
    #expect(Int8Linear.stacked([]) == nil)
  }

  @Test("residual add + LayerNorm fused with input quantization equals (a + b).layerNorm() then quantizeInput bit for bit")
  func layerNormInputEqualsSeparate() {
    for isa in Int8InferenceTests.instructionSets {
      for (rows, d) in [(1, 1), (3, 30), (17, 37), (40, 384), (5, 64)] {
        let layer = Self.layers(n: 8, last: 8, k: d, count: 1, seed: UInt64(d))[0]
        var rng = RandomGenerator(seed: UInt64(rows + 3))
        let a = (0..<(rows * d)).map { _ in rng.nextNormal() * 3 }, b = (0..<(rows * d)).map { _ in rng.nextNormal() }
        let gamma = (0..<d).map { _ in 0.5 + rng.nextUniform() }, beta = (0..<d).map { _ in rng.nextNormal() * 0.1 }
        let expectedValues = (Tensor(shape: [rows, d], storage: a) + Tensor(shape: [rows, d], storage: b))
          .layerNorm(gamma: Tensor(shape: [d], storage: gamma), beta: Tensor(shape: [d], storage: beta), eps: 1e-12)
        let expected = layer.quantizeInput(expectedValues.storage, rows: rows, isa: isa)
        var got = [UInt8](repeating: 0, count: rows * layer.depth)
        var values = [Float](repeating: .nan, count: rows * d)
        a.withUnsafeBufferPointer { pa in
          b.withUnsafeBufferPointer { pb in
            gamma.withUnsafeBufferPointer { g in
              beta.withUnsafeBufferPointer { be in
                values.withUnsafeMutableBufferPointer { y in
                  got.withUnsafeMutableBufferPointer { c in
                    layer.quantizeLayerNormInput(
                      pa.baseAddress!, plus: pb.baseAddress!, gamma: g.baseAddress, beta: be.baseAddress, eps: 1e-12, rows: rows,
                      isa: isa, normalized: y.baseAddress!, codes: c.baseAddress!)
                  }
                }
              }
            }
          }
        }
        #expect(values == expectedValues.scalars, "\(isa) rows \(rows) d \(d): LayerNorm values")
        #expect(got == expected, "\(isa) rows \(rows) d \(d): codes")
      }
    }
  }

  @Test("GELU fused with input quantization equals gelu() then quantizeInput bit for bit")
  func geluInputEqualsSeparate() {
    for isa in Int8InferenceTests.instructionSets {
      for (rows, k) in [(1, 1), (3, 30), (17, 37), (40, 1536), (5, 64)] {
        let layer = Self.layers(n: 8, last: 8, k: k, count: 1, seed: UInt64(k))[0]
        var rng = RandomGenerator(seed: UInt64(rows))
        let x = (0..<(rows * k)).map { _ in rng.nextNormal() * 3 }
        let expected = layer.quantizeInput(Tensor(shape: [rows, k], storage: x).gelu().storage, rows: rows, isa: isa)
        var got = [UInt8](repeating: 0, count: rows * layer.depth)
        x.withUnsafeBufferPointer { p in
          got.withUnsafeMutableBufferPointer { c in layer.quantizeGELUInput(p.baseAddress!, rows: rows, isa: isa, into: c.baseAddress!) }
        }
        #expect(got == expected, "\(isa) rows \(rows) k \(k)")
      }
    }
  }
}
