import Testing

import QATTestSupport

@testable import QATKit

/// The fused inference attention (``AttentionKernels``) against its plain `Double` reference and,
/// against the unfused tensor operations it replaces (scores, masked softmax, context: bit for bit
/// without a mask, within a few ulp with padding, whose keys it skips), on odd shapes: token counts that are not multiples of the 4 × 32 tile, one batch
/// element, padding masks (one element with every key masked), and `query | key | value` side by
/// side in one buffer.
@Suite("Fused attention")
struct AttentionKernelTests {
  struct Shape: CustomStringConvertible {
    let batch: Int, tokens: Int, heads: Int, headDimension: Int, masked: Bool, interleaved: Bool
    var description: String { "B\(batch) T\(tokens) H\(heads) dh\(headDimension) masked \(masked) interleaved \(interleaved)" }
  }

  static let shapes = [
    Shape(batch: 1, tokens: 1, heads: 1, headDimension: 3, masked: false, interleaved: false),
    Shape(batch: 1, tokens: 7, heads: 3, headDimension: 5, masked: false, interleaved: true),
    Shape(batch: 3, tokens: 19, heads: 2, headDimension: 16, masked: true, interleaved: false),
    Shape(batch: 2, tokens: 37, heads: 4, headDimension: 8, masked: true, interleaved: true),
    Shape(batch: 2, tokens: 33, heads: 2, headDimension: 32, masked: false, interleaved: true),
  ]

  @Test("fused attention equals the Double reference and the unfused operations (bit for bit without a mask)", arguments: shapes)
  func matchesReferenceAndUnfused(_ s: Shape) {
    let d = s.heads * s.headDimension, rows = s.batch * s.tokens
    var rng = RandomGenerator(seed: UInt64(rows * 31 + d))
    // q | k | v side by side (ld = 3·D + 1) or three separate [B, T, D] blocks (ld = D).
    let ld = s.interleaved ? 3 * d + 1 : d
    let total = s.interleaved ? rows * ld : 3 * rows * d
    let buffer = (0..<total).map { _ in rng.nextNormal() * 2 }
    let offsets = s.interleaved ? [0, d, 2 * d] : [0, rows * d, 2 * rows * d]
    var mask: [Float] = []
    if s.masked {
      for b in 0..<s.batch {
        // Element 0 keeps every key but its last, element 1 none, the others a random prefix.
        // Beyond element 1, key 1 is masked too (a masked key before the last kept one).
        let keep = b == 0 ? s.tokens - 1 : b == 1 ? 0 : 1 + rng.nextInt(below: s.tokens)
        mask += (0..<s.tokens).map { $0 < keep && !(b > 1 && $0 == 1 && keep > 2) ? 1 : 0 }
      }
    }
    let scale = 1 / Float(s.headDimension).squareRoot()
    func run(_ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Float>?) -> Void) -> [Float] {
      var out = [Float](repeating: .nan, count: rows * d)
      buffer.withUnsafeBufferPointer { p in
        mask.withUnsafeBufferPointer { m in
          out.withUnsafeMutableBufferPointer { o in kernel(p.baseAddress!, o.baseAddress!, s.masked ? m.baseAddress : nil) }
        }
      }
      return out
    }
    let fused = run { p, o, m in
      AttentionKernels.forward(
        query: p + offsets[0], ldq: ld, key: p + offsets[1], ldk: ld, value: p + offsets[2], ldv: ld, out: o, ldo: d,
        batch: s.batch, queries: s.tokens, keys: s.tokens, heads: s.heads, headDimension: s.headDimension, scale: scale,
        keyMask: m)
    }
    let reference = run { p, o, m in
      AttentionKernels.reference(
        query: p + offsets[0], ldq: ld, key: p + offsets[1], ldk: ld, value: p + offsets[2], ldv: ld, out: o, ldo: d,
        batch: s.batch, queries: s.tokens, keys: s.tokens, heads: s.heads, headDimension: s.headDimension, scale: scale,
        keyMask: m)
    }
    let worst = zip(fused, reference).map { Swift.abs($0 - $1) }.max() ?? .infinity
    #expect(worst < 1e-5 * Float(s.headDimension), "\(s): max |Δ| \(worst) against the reference")
    if s.masked {
      // The element with every key masked gets zeros.
      #expect(fused[(s.tokens * d)..<(2 * s.tokens * d)].allSatisfy { $0 == 0 }, "\(s)")
    }
    // The unfused operations on the same q, k, v (copied out of the buffer).
    func block(_ i: Int) -> Tensor {
      var values: [Float] = []
      for r in 0..<rows { values += buffer[(offsets[i] + r * ld)..<(offsets[i] + r * ld + d)] }
      return Tensor(shape: [s.batch, s.tokens, d], storage: values)
    }
    let p = Tensor.attentionScores(query: block(0), key: block(1), heads: s.heads)
      .maskedSoftmax(scale: scale, keyMask: s.masked ? Tensor(shape: [s.batch, s.tokens], storage: mask) : nil)
    let unfused = Tensor.attentionContext(probabilities: p, value: block(2), heads: s.heads)
    if s.masked {
      // Padded keys are skipped: the softmax sums fewer lanes, so a few ulp apart.
      let apart = zip(fused, unfused.scalars).map { Swift.abs($0 - $1) / (1 + Swift.abs($1)) }.max() ?? .infinity
      #expect(apart < 1e-6, "\(s): fused and unfused attention differ by \(apart)")
    } else {
      #expect(fused == unfused.scalars, "\(s): fused and unfused attention differ")
    }
  }
}
