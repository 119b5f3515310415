import Foundation
import Testing
@testable import QATKit

@Suite("Quantization: config, patterns, presets")
struct QuantizationConfigTests {
  @Test func wildcardSemantics() {
    #expect(WildcardPattern("*weight_quantizer").matches("fc1.weight_quantizer"))
    #expect(!WildcardPattern("*weight_quantizer").matches("fc1.input_quantizer"))
    #expect(WildcardPattern("layers.[01].*").matches("layers.1.input_quantizer"))
    #expect(!WildcardPattern("layers.[!01].*").matches("layers.1.input_quantizer"))
    #expect(WildcardPattern("fc?.input_quantizer").matches("fc2.input_quantizer"))
    #expect(!WildcardPattern("fc?.input_quantizer").matches("fc12.input_quantizer"))
    #expect(WildcardPattern("*lm_head*").matches("model.lm_head.weight_quantizer"))
    #expect(WildcardPattern("*").matches(""))
    #expect(!WildcardPattern("fc1").matches("fc1.weight_quantizer"))
    #expect(WildcardPattern("a[b").matches("a[b"))
  }

  private let paths = ["fc1.input_quantizer", "fc1.weight_quantizer", "fc2.input_quantizer", "fc2.weight_quantizer"]

  @Test func laterRulesWin() throws {
    let cfg = QuantizeConfig.weightsAndActivations(weights: .int(4, axis: 0), activations: .int(4))
      .adding("fc1.input_quantizer", .int(8))
      .setting("fc2.*", enabled: false)
    let r = try cfg.resolve(paths: paths)
    #expect(r["fc1.input_quantizer"]?.format == .int8)
    #expect(r["fc1.weight_quantizer"]?.format == .int4)
    #expect(r["fc2.input_quantizer"]?.enable == false)
    #expect(r["fc2.weight_quantizer"]?.enable == false)
    #expect(r["fc1.weight_quantizer"]?.axis == 0)
  }

  @Test func patternMatchingNothingListsPaths() throws {
    let cfg = QuantizeConfig([.init("*conv*", cfg: .int(8))])
    do {
      _ = try cfg.resolve(paths: paths)
      Issue.record("expected an error")
    } catch let e as ConfigError {
      #expect(e.description.contains("fc2.weight_quantizer"))
      #expect(e.description.contains("*conv*"))
    }
    // Optional rules (the presets' *lm_head*) may match nothing.
    #expect(try QuantizeConfig(preset: .int8).resolve(paths: paths).count == 4)
  }

  @Test func jsonRoundTripAndStrictKeys() throws {
    let cfg = QuantizeConfig(preset: .w4a8).adding("fc1.input_quantizer", QuantizerAttributes(format: .int8, calibrator: "mse", calibratorOptions: .object(["steps": .number(10)])))
    let again = try QuantizeConfig(json: cfg.json)
    #expect(again == cfg)
    let text = #"{"quantCfg": [{"quantizerName": "*weight_quantizer", "cfg": {"format": "int8", "axsi": 0}}]}"#
    do {
      _ = try QuantizeConfig(jsonText: text)
      Issue.record("expected an error")
    } catch let ConfigError.unknownKey(_, path, known) {
      #expect(path == "quantCfg.[0].cfg.axsi" || path.hasSuffix("cfg.axsi"))
      #expect(known.contains("axis"))
    }
    #expect(throws: ConfigError.self) { try QuantizeConfig(jsonText: #"{"quantCfg": [{"quantizerName": "*", "cfg": {"format": "int99x"}}]}"#) }
    let parsed = try QuantizeConfig(jsonText: #"{"quantCfg": [{"quantizerName": "*weight_quantizer", "cfg": {"format": "uint4", "blockSize": 16}}, {"quantizerName": "*lm_head*", "enable": false, "optional": true}]}"#)
    #expect(parsed.quantCfg[0].cfg == QuantizerAttributes(format: .int(bits: 4, signed: false), blockSize: 16))
  }

  @Test func presetsHaveModelOptMeanings() throws {
    let p = paths
    let int8 = try QuantizeConfig(preset: .int8).resolve(paths: p)
    #expect(int8["fc1.weight_quantizer"] == .int(8, axis: 0))
    #expect(int8["fc1.input_quantizer"] == .int(8))
    let wo = try QuantizeConfig(preset: .int8WeightOnly).resolve(paths: p)
    #expect(wo["fc1.input_quantizer"] == nil)
    #expect(try QuantizeConfig(preset: .int4WeightOnly).resolve(paths: p)["fc2.weight_quantizer"]?.blockSize == 128)
    #expect(try QuantizeConfig(preset: .fp8).resolve(paths: p)["fc2.input_quantizer"]?.format == .e4m3)
    let nv = try QuantizeConfig(preset: .nvfp4).resolve(paths: p)["fc2.weight_quantizer"]
    #expect(nv?.granularity == .perBlock(size: 16))
    #expect(try QuantizeConfig(preset: .mxfp4).resolve(paths: p)["fc2.weight_quantizer"]?.effectiveBlockSize == 32)
    #expect(try QuantizePreset(named: "w4a8") == .w4a8)
    #expect(throws: ConfigError.self) { try QuantizePreset(named: "int9") }
  }

  @Test func attributeValidation() {
    func bad(_ a: QuantizerAttributes, shape: [Int]? = nil) -> Bool {
      (try? a.validate(path: "fc1.weight_quantizer", shape: shape)) == nil
    }
    #expect(bad(.int(9)))
    #expect(bad(.int(1)))
    #expect(!bad(.int(2)))
    #expect(bad(QuantizerAttributes(format: .nvfp4, axis: 0)))
    #expect(bad(.int(4, blockSize: 128), shape: [256, 64]))
    #expect(!bad(.int(4, blockSize: 32), shape: [256, 64]))
    #expect(bad(.int(8, axis: 2), shape: [256, 64]))
    #expect(bad(QuantizerAttributes(format: .mxfp4, blockSize: 16)))
    #expect(bad(QuantizerAttributes(format: .e4m3, narrowRange: true)))
  }
}
