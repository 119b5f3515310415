import Foundation
import QATKit
import QATRegistry

/// One quantization recipe of a run: a config (resolved per model) and how its ranges are set.
struct QuantRecipe {
  /// File-name tag: `w4a4-max`, `int8-max`, `cfg-lsq`.
  var tag: String
  /// Table title: `W4 per-channel + A4`.
  var title: String
  /// `max, frozen`, `mse → LSQ learned`.
  var ranges: String
  /// The rules, before the ranges variant is applied.
  var config: ModelOptConfig
  /// Calibrator for calibrated (static, non-block) quantizers, nil = as configured.
  var calibrator: String?
  /// Learned ranges (LSQ, MSE-initialized) on integer activation quantizers.
  var learned: Bool

  /// The QATKit config for `model`.
  func quantizeConfig(for model: Module) throws -> QuantizeConfig {
    var c = try config.quantizeConfig(for: model, environment: Checkpoints.registry.quantizationEnvironment)
    for i in c.quantCfg.indices {
      guard var a = c.quantCfg[i].cfg, a.enable, !a.dynamic, a.format.usesAmax, !a.format.isBlockScaled else { continue }
      let isWeight = c.quantCfg[i].quantizerName.text.contains("weight")
      if learned, !isWeight, a.format.isInteger {
        a.calibrator = "mse"
        a.calibratorOptions = nil
        a.algorithm = "lsq"
      } else if let calibrator, a.calibrator == "max" {
        switch (calibrator, isWeight) {
        case ("percentile", true): break  // a percentile of a weight clips real values
        case (_, true): a.calibrator = calibrator == "max" ? "max" : "mse"
        default: a.calibrator = calibrator
        }
      }
      c.quantCfg[i].cfg = a
    }
    return c
  }
}

/// `--quant-cfg`, `--weight-bits`, `--act-bits`, `--calibrator`.
struct QuantOptions {
  static let specs: [OptionSpec] = [
    .option("--quant-cfg", "FILE|PRESET", "quantization config: ModelOpt's JSON form, QATKit's, or a preset (INT8_DEFAULT_CFG, int8, ...)"),
    .option("--weight-bits", "N", "integer weights per output channel, 2-8 bits (default: 4)"),
    .option("--act-bits", "N", "integer activations per tensor, 2-8 bits, 0 for none (default: 4)"),
    .option("--calibrator", "NAME", "range calibrator: max, percentile, mse or entropy (default: max, as ModelOpt)"),
  ]

  var config: ModelOptConfig?
  var configName: String?
  var weightBits: Int
  var actBits: Int
  var calibrator: String
  /// Whether bits were given (they do not combine with --quant-cfg).
  var bitsGiven: Bool

  init(_ a: ParsedArguments) throws {
    weightBits = try a.int("--weight-bits", default: 4, in: 2...8)
    actBits = try a.int("--act-bits", default: 4, in: 0...8)
    if actBits == 1 { throw CLIError.usage("'--act-bits' expects 0 (none) or 2...8, got 1") }
    bitsGiven = a.string("--weight-bits") != nil || a.string("--act-bits") != nil
    calibrator = a.string("--calibrator") ?? "max"
    let known = Checkpoints.registry.entries(.calibrator).map(\.name)
    guard known.contains(calibrator) else {
      let hint = ParsedArguments.nearest(calibrator, in: known)
      throw CLIError.usage("unknown calibrator '\(calibrator)'\(hint.map { " (did you mean '\($0)'?)" } ?? ""); calibrators: \(known.joined(separator: ", "))")
    }
    if let spec = a.string("--quant-cfg") {
      if bitsGiven { throw CLIError.usage("--weight-bits and --act-bits describe a config; they do not combine with --quant-cfg") }
      (config, configName) = try Self.load(spec)
    }
  }

  /// A config from a JSON file or a preset name.
  static func load(_ spec: String) throws -> (ModelOptConfig, String) {
    if spec.hasSuffix(".json") || FileManager.default.fileExists(atPath: spec) {
      guard let text = try? String(contentsOfFile: spec, encoding: .utf8) else {
        throw CLIError.input("--quant-cfg: cannot read '\(spec)'")
      }
      return (try ModelOptConfig(json: JSONValue(parsing: text)), URL(fileURLWithPath: spec).deletingPathExtension().lastPathComponent)
    }
    return (try ModelOptConfig(preset: spec), spec)
  }

  /// The integer recipe `W<w> per-channel + A<a>` (activations off with 0 bits).
  static func intRecipe(weightBits: Int, actBits: Int) -> ModelOptConfig {
    ModelOptConfig(qatkit: .weightsAndActivations(
      weights: .int(weightBits, axis: 0), activations: actBits == 0 ? nil : .int(actBits)))
  }

  /// `W4A4` or `W4A32`.
  var bitsName: String { "W\(weightBits)A\(actBits == 0 ? 32 : actBits)" }

  /// The single recipe of `quantize` (frozen, or learned with `learned`).
  func recipe(learned: Bool) -> QuantRecipe {
    let cal = learned ? "mse → LSQ learned" : "\(calibrator), frozen"
    if let config, let configName {
      return QuantRecipe(tag: "\(Self.slug(configName))-\(learned ? "lsq" : calibrator)", title: configName, ranges: cal, config: config, calibrator: calibrator, learned: learned)
    }
    let title = "\(bitsName) (W per-channel\(actBits == 0 ? "" : ", A per-tensor"))"
    return QuantRecipe(
      tag: "\(bitsName.lowercased())-\(learned ? "lsq" : calibrator)", title: title, ranges: cal,
      config: Self.intRecipe(weightBits: weightBits, actBits: actBits), calibrator: calibrator, learned: learned)
  }

  /// The recipes of `run`: INT8 and the low-bit recipe with frozen ranges, and the low-bit
  /// recipe with learned ranges; with --quant-cfg, that config frozen and learned.
  func runRecipes() -> [QuantRecipe] {
    var out: [QuantRecipe] = []
    if config == nil {
      out.append(QuantRecipe(
        tag: "int8-\(calibrator)", title: "INT8 (W8 per-channel, A8 per-tensor)", ranges: "\(calibrator), frozen",
        config: ModelOptConfig(qatkit: QuantizeConfig(preset: .int8)), calibrator: calibrator, learned: false))
    }
    out.append(recipe(learned: false))
    if config == nil && actBits == 0 { return out }
    out.append(recipe(learned: true))
    return out
  }

  /// A file-name-safe tag.
  static func slug(_ s: String) -> String {
    String(s.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
  }
}
