import LogQuant
import QATKit
import QATPluginTesting
import QATRegistry
import XCTest

/// The LogQuant plugin on QATKit's conformance suite, from XCTest.
final class LogQuantTests: XCTestCase {
  /// The straight-through surrogate: the quantized value with the clipping STE,
  /// `y = detach(y) + (x − detach(x)) · [|x| ≤ amax]`.
  static let surrogate = STESurrogate { input, frozen in
    let layout = input.layout
    let ranges = input.state["_amax"]!
    guard case .int(let bits, _) = input.attributes.format else { return [] }
    let k = Double((1 << (bits - 1)) - 1)
    return input.x.enumerated().map { i, x in
      let a = ranges[layout.group(i)]
      var y = 0.0
      if a > 0, x != 0 {
        let e = (a / abs(x)).log2Rounded
        if e <= k - 1 + 0.5 { y = (x < 0 ? -a : a) * pow(2, -min(max(e, 0), k - 1)) }
      }
      return frozen.detach(y) + (x - frozen.detach(x)) * frozen.detach(abs(x) <= a ? 1 : 0)
    }
  }

  func testConformance() {
    let report = QuantizerConformance(
      plugin: LogQuantPlugin.self, algorithm: "log2",
      cases: [.weight(.int(4, axis: 0)), .weight(.int(5)), .activation(.int(8))],
      unsupported: [.int(2), .int(4, signed: false), QuantizerAttributes(format: .e4m3)],
      surrogate: Self.surrogate
    ).run()
    XCTAssertTrue(report.passed, report.description)
  }

  func testUnsupportedFormatsAreTypedErrors() {
    for format in [QuantFormat.int(bits: 2, signed: true), .int(bits: 4, signed: false), .e4m3] {
      XCTAssertThrowsError(try LogQuantizer(attributes: QuantizerAttributes(format: format, algorithm: "log2"))) { e in
        guard case QuantizerError.unsupportedFormat("log2", format, _) = e else { return XCTFail("\(e)") }
      }
    }
  }

  func testPowersOfTwo() throws {
    let q = try LogQuantizer(attributes: QuantizerAttributes(format: .int4, algorithm: "log2"))
    try q.allocateState(shapes: ["_amax": [1]])
    // Levels 1, 1/2, …, 1/64; 0.005 is more than half an octave below 1/64.
    XCTAssertEqual(q(try Tensor([1, -0.6, 0.3, 0.02, 0.005, 3], shape: [6])).scalars, [1, -0.5, 0.25, 1.0 / 64, 0, 1])
  }
}

extension Double {
  /// `round(log2(self))`.
  var log2Rounded: Double { Foundation.log2(self).rounded(.toNearestOrEven) }
}
