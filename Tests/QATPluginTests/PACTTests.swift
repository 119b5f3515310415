import Foundation
import QATKit
import QATPluginPACT
import QATPluginTesting
import QATPlugins
import QATRegistry
import Testing

@Suite struct PACTTests {
  @Test func clipsAndLearnsAlpha() throws {
    let q = try PACTQuantizer(attributes: QuantizerAttributes(format: .int(bits: 4, signed: false), algorithm: "pact"))
    try q.allocateState(shapes: ["_amax": [1]])
    let alpha = try #require(q.alpha)
    try alpha.assign(values: [1.5])
    let x = try Tensor([-1, 0.2, 0.7, 1.4, 3.0], shape: [5], requiresGrad: true)
    let y = q(x)
    // step 1.5 / 15 = 0.1: values clip to [0, 1.5] and round to multiples of 0.1.
    let expected: [Float] = [0, 0.2, 0.7, 1.4, 1.5]
    for (a, b) in zip(y.scalars, expected) { #expect(abs(a - b) < 1e-6) }
    y.backward(try Tensor([1, 1, 1, 1, 2], shape: [5]))
    #expect(x.grad!.scalars == [0, 1, 1, 1, 0])
    #expect(alpha.grad!.scalars == [2])
    #expect(throws: (any Error).self) { try PACTQuantizer(attributes: .int(8, axis: 0)) }
  }
}

/// PACT through the contributor kit's conformance suite.
@Suite struct PACTConformanceTests {
  /// PACT's straight-through surrogate: `y = c + detach(round(c / s) · s − c)` with
  /// `c = clamp(x, lo, α)`, so `∂y/∂x = 1` inside and `∂y/∂α = 1` above α, `−1` below `−α`.
  static let surrogate = STESurrogate { input, frozen in
    guard case .int(let bits, let signed) = input.attributes.format else { return [] }
    let hi = Double((1 << (bits - (signed ? 1 : 0))) - 1)
    let alpha = input.state["_amax"]![0]
    let s = frozen.detach(alpha) / hi
    return input.x.map { x in
      let c = frozen.clamp(x, signed ? -alpha : 0, alpha)
      return c + frozen.detach((c / s).rounded(.toNearestOrEven) * s - c)
    }
  }

  @Test func conforms() {
    let report = QuantizerConformance(
      plugin: PACTPlugin.self, algorithm: "pact",
      cases: [.activation(.int(4, signed: false)), .activation(.int(8)), .weight(.int(4))],
      unsupported: [.int(8, axis: 0), .int(4, blockSize: 4), QuantizerAttributes(format: .e4m3)],
      surrogate: Self.surrogate
    ).run()
    #expect(report.passed, "\(report)")
  }
}
