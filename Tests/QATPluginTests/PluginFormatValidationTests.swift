import QATKit
import QATPlugins
import QATRegistry
import QATPluginLSQ
import QATPluginLSQPlus
import QATPluginPACT
import QATPluginTTQ
import Testing

/// LSQ, PACT, LSQ+ and TTQ check bit widths exactly as the core formats do (2…8 bits) and reject other
/// formats with ``QuantizerError/unsupportedFormat(algorithm:format:reason:)`` (issue 10, defect 4:
/// `int64` used to overflow and trap, 0, 1 and 9 bits were accepted).
@Suite struct PluginFormatValidationTests {
  static let badWidths: [QuantFormat] = [
    .int(bits: 0, signed: true), .int(bits: 1, signed: true), .int(bits: 9, signed: true),
    .int(bits: 64, signed: true), .int(bits: 64, signed: false), .int(bits: -3, signed: true),
    .int(bits: 1, signed: false),
  ]

  @Test(arguments: badWidths)
  func lsqRejectsWidthsOutsideTwoToEight(_ format: QuantFormat) {
    #expect(throws: ConfigError.self) { try LSQQuantizer(attributes: QuantizerAttributes(format: format, algorithm: "lsq")) }
  }

  @Test(arguments: badWidths)
  func pactRejectsWidthsOutsideTwoToEight(_ format: QuantFormat) {
    #expect(throws: ConfigError.self) { try PACTQuantizer(attributes: QuantizerAttributes(format: format, algorithm: "pact")) }
  }

  @Test func everyCoreWidthIsAccepted() throws {
    for bits in 2...8 {
      for signed in [true, false] {
        _ = try LSQQuantizer(attributes: QuantizerAttributes(format: .int(bits: bits, signed: signed), algorithm: "lsq"))
        _ = try PACTQuantizer(attributes: QuantizerAttributes(format: .int(bits: bits, signed: signed), algorithm: "pact"))
      }
    }
  }

  @Test(arguments: [QuantFormat.e4m3, .e5m2, .nvfp4, .mxfp4, .mxfp8])
  func floatFormatsAreUnsupportedFormats(_ format: QuantFormat) {
    #expect {
      try LSQQuantizer(attributes: QuantizerAttributes(format: format, algorithm: "lsq"))
    } throws: { e in
      guard case QuantizerError.unsupportedFormat(let algorithm, let f, _) = e else { return false }
      return algorithm == "lsq" && f == format && "\(e)".contains("lsq") && "\(e)".contains("\(format)")
    }
    #expect {
      try PACTQuantizer(attributes: QuantizerAttributes(format: format, algorithm: "pact"))
    } throws: { e in
      guard case QuantizerError.unsupportedFormat(let algorithm, let f, _) = e else { return false }
      return algorithm == "pact" && f == format
    }
  }

  @Test func pactRejectsPerChannelAsUnsupported() {
    #expect {
      try PACTQuantizer(attributes: QuantizerAttributes(format: .int8, axis: 0, algorithm: "pact"))
    } throws: { e in
      guard case QuantizerError.unsupportedFormat(let algorithm, _, let reason) = e else { return false }
      return algorithm == "pact" && reason.contains("per tensor")
    }
  }

  /// The in-tree plugins from the contributor kit refuse formats they do not implement with
  /// the same typed error (they used to throw a ``ConfigError``), and LSQ+ checks widths as
  /// the core does (`int64` would overflow its grid).
  @Test(arguments: [QuantFormat.e4m3, .nvfp4, .mxfp4, .int(bits: 4, signed: true), .int(bits: 2, signed: false)])
  func ttqAndLSQPlusUnsupportedFormats(_ format: QuantFormat) {
    #expect {
      try TTQQuantizer(attributes: QuantizerAttributes(format: format, algorithm: "ttq"))
    } throws: { e in
      guard case QuantizerError.unsupportedFormat("ttq", format, let reason) = e else { return false }
      return reason.contains("int2")
    }
    guard !format.isInteger else { return }
    #expect {
      try LSQPlusQuantizer(attributes: QuantizerAttributes(format: format, algorithm: "lsq_plus"))
    } throws: { e in
      guard case QuantizerError.unsupportedFormat("lsq_plus", format, _) = e else { return false }
      return true
    }
  }

  @Test(arguments: badWidths)
  func lsqPlusRejectsWidthsOutsideTwoToEight(_ format: QuantFormat) {
    #expect(throws: ConfigError.self) { try LSQPlusQuantizer(attributes: QuantizerAttributes(format: format, algorithm: "lsq_plus")) }
  }

  /// Through `convert`, a plugin's unsupported format is reported under the quantizer's path
  /// with the plugin's reason, and the model is untouched.
  @Test func convertNamesTheQuantizerPathOfAnUnsupportedFormat() throws {
    let model = MLP([8, 6, 4], seed: 1)
    var a = QuantizerAttributes(format: .e4m3)
    a.algorithm = "ttq"
    #expect {
      try convert(model, modes: [.quantize(QuantizeConfig([.init("fc2.weight_quantizer", cfg: a)]))], registry: InTreePlugins.registry)
    } throws: { e in
      let message = "\(e)"
      return message.contains("'fc2.weight_quantizer.format'") && message.contains("ternary") && message.contains("int2")
    }
    #expect(model.modeHistory.isEmpty && model.namedQuantizers().isEmpty)
  }
}
