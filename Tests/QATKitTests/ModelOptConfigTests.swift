import Foundation
import QATTestSupport
import Testing

@testable import QATKit

/// A model with every quantizable layer kind whose sizes divide 128 (INT4 blocks).
private func model() throws -> Sequential {
  try Architecture(json: JSONValue(parsing: """
    {"input_shape": [4], "layers": [
      {"name": "embed", "type": "Embedding", "num_embeddings": 8, "embedding_dim": 128},
      {"name": "fc1", "type": "Linear", "in_features": 128, "out_features": 128},
      {"type": "ReLU"},
      {"name": "lm_head", "type": "Linear", "in_features": 128, "out_features": 8}]}
    """)).build()
}

private func resolved(_ config: QuantizeConfig, _ m: Module) throws -> [String: QuantizerAttributes] {
  try config.resolve(paths: QuantizationEnvironment.builtin.quantizerPaths(of: m))
}

@Suite("ModelOpt configs")
struct ModelOptConfigTests {
  /// ModelOpt's own preset JSON (dumped from ModelOpt 0.47) builds what QATKit's preset of the
  /// same meaning builds, except that ModelOpt's rules also switch the Embedding's quantizers
  /// off (its parent_class rule).
  @Test(arguments: [
    ("INT8_DEFAULT_CFG", QuantizePreset.int8), ("INT8_WEIGHT_ONLY_CFG", .int8WeightOnly),
    ("INT4_BLOCKWISE_WEIGHT_ONLY_CFG", .int4WeightOnly), ("FP8_DEFAULT_CFG", .fp8), ("NVFP4_DEFAULT_CFG", .nvfp4),
    ("MXFP4_DEFAULT_CFG", .mxfp4), ("MXFP8_DEFAULT_CFG", .mxfp8),
  ])
  func presetFilesMatchQATKitPresets(name: String, preset: QuantizePreset) throws {
    let m = try model()
    let file = try ModelOptConfig(json: JSONValue(parsing: String(decoding: Fixtures.data("modelopt_configs/\(name).json", in: .module), as: UTF8.self)))
    let byName = try ModelOptConfig(preset: name)
    let fromFile = try resolved(file.quantizeConfig(for: m), m)
    #expect(fromFile == (try resolved(byName.quantizeConfig(for: m), m)))
    var expected = try resolved(QuantizeConfig(preset: preset), m)
    if expected["embed.weight_quantizer"] != nil { expected["embed.weight_quantizer"]!.enable = false }
    #expect(fromFile == expected)
    #expect(fromFile["lm_head.weight_quantizer"]?.enable == false)
  }

  @Test func w4a8AWQIsRejectedWithTheReason() throws {
    #expect { try ModelOptConfig(preset: "W4A8_AWQ_BETA_CFG") } throws: { "\($0)".contains("sequential weight quantizer") && "\($0)".contains("awq_lite") }
    let text = String(decoding: try Fixtures.data("modelopt_configs/W4A8_AWQ_BETA_CFG.json", in: .module), as: UTF8.self)
    #expect { try ModelOptConfig(json: JSONValue(parsing: text)) } throws: { "\($0)".contains("awq_lite") || "\($0)".contains("sequential") }
    #expect { try ModelOptConfig(preset: "INT8_DEFALT_CFG") } throws: { "\($0)".contains("did you mean 'INT8_DEFAULT_CFG'") }
    #expect(try ModelOptConfig(preset: "int8") == ModelOptConfig(qatkit: QuantizeConfig(preset: .int8)))
  }

  @Test func keysInEitherSpellingWithSuggestions() throws {
    func error(_ text: String) -> String {
      do { _ = try ModelOptConfig(json: JSONValue(parsing: text)); return "" } catch { return "\(error)" }
    }
    let e1 = error(#"{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bit": 4}}]}"#)
    #expect(e1.contains("quant_cfg[0].cfg.num_bit") && e1.contains("did you mean 'num_bits'"))
    let e2 = error(#"{"quant_cfg": [{"quantizer_nam": "*", "enable": false}]}"#)
    #expect(e2.contains("did you mean 'quantizer_name'"))
    let e3 = error(#"{"quant_cfg": [{"quantizer_name": "*", "cfg": {"num_bits": 4, "narrowRang": true}}]}"#)
    #expect(e3.contains("did you mean 'narrowRange'"))
    #expect(error(#"{"quant_cfgs": []}"#).contains("did you mean 'quant_cfg'"))
    // Both spellings of one rule mean the same thing.
    let snake = try ModelOptConfig(json: JSONValue(parsing:
      #"{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 4, "axis": 0, "narrow_range": true, "pass_through_bwd": false}}]}"#))
    let camel = try ModelOptConfig(json: JSONValue(parsing:
      #"{"quantCfg": [{"quantizerName": "*weight_quantizer", "cfg": {"format": "int4", "axis": 0, "narrowRange": true, "passThroughSTE": false}}]}"#))
    #expect(snake == camel)
    // Unsupported features say so.
    #expect(error(#"{"quant_cfg": [{"quantizer_name": "*", "cfg": {"num_bits": [2, 1]}}]}"#).contains("needs block scales"))
    #expect(error(#"{"quant_cfg": [{"quantizer_name": "*", "cfg": {"num_bits": 8, "block_sizes": {"-1": null, "type": "dynamic"}}}]}"#).contains("per-token"))
    #expect(error(#"{"quant_cfg": {"*weight_quantizer": {"num_bits": 8}}}"#).contains("list form"))
    // Plugin algorithms pass through with their options in QATKit's spelling (checked when the
    // quantize mode builds them); ModelOpt's memory and logging knobs are dropped.
    let awq = try ModelOptConfig(json: JSONValue(parsing:
      #"{"quant_cfg": [], "algorithm": {"method": "awq_full", "alpha_step": 0.2, "max_co_batch_size": 512, "debug": false}}"#))
    #expect(awq.algorithm == .calibration(CalibrationAlgorithmSpec("awq_full", options: .object(["alphaStep": .number(0.2)]))))
    #expect(try ModelOptConfig(json: JSONValue(parsing: #"{"quant_cfg": [], "algorithm": "smoothquant"}"#)).algorithm == .calibration(.init("smoothquant")))
    #expect(error(#"{"quant_cfg": [], "algorithm": {"method": "gptq", "block_size": 64, "blockSize": 64}}"#).contains("given twice"))
    #expect(error(#"{"quant_cfg": [{"quantizer_name": "*", "enable": true}]}"#).contains("nothing to enable"))
    #expect(error(#"{"quant_cfg": [{"quantizer_name": "*", "cfg": {"num_bits": 9}}]}"#).contains("out of range"))
  }

  @Test func parentClassAlgorithmAndBlocks() throws {
    let m = try Architecture(json: JSONValue(parsing: """
      {"input_shape": [1, 4, 4], "layers": [
        {"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3},
        {"type": "Flatten"}, {"type": "Linear", "in_features": 8, "out_features": 32}]}
      """)).build()
    let config = try ModelOptConfig(json: JSONValue(parsing: """
      {"quant_cfg": [
        {"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": 0}},
        {"quantizer_name": "*weight_quantizer", "parent_class": "nn.Conv2d", "cfg": {"num_bits": 4, "axis": 0}},
        {"quantizer_name": "*input_quantizer", "cfg": {"num_bits": 8, "block_sizes": {"-1": 4, "type": "dynamic"}}},
        {"quantizer_name": "*input_quantizer", "parent_class": "nn.Linear", "cfg": {"num_bits": 6, "calibrator": "histogram"}}],
       "algorithm": {"method": "mse", "start_multiplier": 0.5, "stop_multiplier": 1.0, "step_size": 0.1}}
      """))
    let r = try resolved(config.quantizeConfig(for: m), m)
    #expect(r["0.weight_quantizer"]?.format == .int4)
    #expect(r["2.weight_quantizer"]?.format == .int8)
    #expect(r["2.weight_quantizer"]?.calibrator == "mse")
    #expect(r["2.weight_quantizer"]?.calibratorOptions == (try JSONValue.encoding(MSECalibrator.Options.with(start: 0.5, stop: 1, steps: 6))))
    #expect(r["0.input_quantizer"]?.blockSize == 4 && r["0.input_quantizer"]?.dynamic == true)
    #expect(r["0.input_quantizer"]?.calibrator == "max")  // dynamic: nothing to calibrate
    #expect(r["2.input_quantizer"]?.format == .int(bits: 6, signed: true))
    #expect(r["2.input_quantizer"]?.calibrator == "entropy")
    // A cfg rule whose parent class matches nothing is an error; algorithm null makes ranges dynamic.
    let none = try ModelOptConfig(json: JSONValue(parsing: """
      {"quant_cfg": [{"quantizer_name": "*weight_quantizer", "parent_class": "nn.Embedding", "cfg": {"num_bits": 8}}]}
      """))
    #expect { try none.quantizeConfig(for: m) } throws: { "\($0)".contains("nn.Embedding") }
    let dynamic = try ModelOptConfig(json: JSONValue(parsing: #"{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8}}], "algorithm": null}"#))
    #expect(try resolved(dynamic.quantizeConfig(for: m), m)["0.weight_quantizer"]?.dynamic == true)
  }
}

extension MSECalibrator.Options {
  fileprivate static func with(start: Double, stop: Double, steps: Int) -> Self {
    var o = Self()
    o.start = start
    o.stop = stop
    o.steps = steps
    return o
  }
}
