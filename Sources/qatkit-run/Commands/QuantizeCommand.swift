import Foundation
import QATKit

/// `qatkit-run quantize`: post-training quantization of an FP32 checkpoint or of PyTorch
/// weights, calibrated on the training rows.
struct QuantizeCommand: Command {
  static let name = "quantize"
  static let abstract = "post-training quantization (PTQ) with a recipe, a ModelOpt config or a preset"
  static let usage = [
    "quantize --checkpoint FP32.safetensors [--quant-cfg FILE|PRESET | --weight-bits W --act-bits A] [--calibrator NAME] [--learned-ranges]",
    "quantize --model ARCH.json --weights FILE.safetensors [--data FILE.csv ...] [--quant-cfg FILE|PRESET]",
  ]
  static let discussion = """
    Inserts fake quantizers by the config's wildcard rules and calibrates their ranges on the
    training rows. --quant-cfg takes ModelOpt's JSON form (quant_cfg, quantizer_name, cfg with
    num_bits, axis, block_sizes, enable; algorithm), QATKit's, or a preset name
    (INT8_DEFAULT_CFG, INT8_WEIGHT_ONLY_CFG, INT4_BLOCKWISE_WEIGHT_ONLY_CFG, FP8_DEFAULT_CFG,
    NVFP4_DEFAULT_CFG, MXFP4_DEFAULT_CFG, MXFP8_DEFAULT_CFG, or int8, w4a8, ...). Without it,
    W<weight-bits> per-channel weights and A<act-bits> per-tensor activations. The config's
    "algorithm" may name a calibration algorithm plugin: "smoothquant", "awq_lite", "awq_clip",
    "awq_full", "gptq" (options as in ModelOpt, e.g. {"method": "awq_lite", "alpha_step": 0.1});
    its results are saved in the checkpoint (see 'qatkit-run list').
    --learned-ranges makes the activation ranges trainable (LSQ, MSE-initialized) for qat.

    Example: qatkit-run quantize --checkpoint runs/iris/fp32.safetensors --quant-cfg INT8_DEFAULT_CFG
    """
  static let options: [OptionSpec] =
    [.option("--checkpoint", "FILE", "the FP32 checkpoint (from train, or a PyTorch state dict with --model)"),
     .flag("--learned-ranges", "learn the activation ranges in QAT (LSQ, initialized by MSE calibration)")]
    + QuantOptions.specs + DataOptions.specs + ModelOptions.specs + OutputOptions.specs(defaultFile: "ptq.safetensors", report: false)

  let checkpoint: URL?
  let learned: Bool
  let quant: QuantOptions
  let dataOptions: DataOptions
  let modelOptions: ModelOptions
  let output: OutputOptions

  init(_ a: ParsedArguments) throws {
    checkpoint = try a.existingFile("--checkpoint")
    learned = a.flag("--learned-ranges")
    quant = try QuantOptions(a)
    dataOptions = try DataOptions(a)
    modelOptions = try ModelOptions(a)
    output = OutputOptions(a)
    if checkpoint == nil, modelOptions.weights == nil {
      throw CLIError.usage("quantize needs --checkpoint FILE (from train) or --weights FILE (with --model)")
    }
  }

  func run() throws {
    let (model, arch, data): (Module, Architecture, PreparedData)
    if let checkpoint {
      (model, arch, data) = try Checkpoints.load(checkpoint, model: modelOptions, data: dataOptions)
    } else {
      data = try dataOptions.load(modelInputShape: modelOptions.declaredInputShape())
      (model, arch) = try modelOptions.build(for: data, seed: data.record.seed)
    }
    let recipe = quant.recipe(learned: learned)
    let fp32Accuracy = try Stages.accuracy(model, on: data.test)
    let config = try recipe.quantizeConfig(for: model)
    let t = try Stages.quantize(model, config: config, data: data)
    let file = output.file("ptq.safetensors", data: data)
    try Checkpoints.save(model, to: file, architecture: arch, data: data.record)
    let acc = try Stages.accuracy(model, on: data.test)
    Console.result(data.summary)
    Console.result("\(recipe.title), \(recipe.ranges): FP32 test accuracy \(pct(fp32Accuracy)) → PTQ \(pct(acc)) (\(secs(t)))")
    if let spec = config.algorithm { Console.result("calibration algorithm: \(spec) (recorded with the quantize mode)") }
    Console.result(model.quantizerSummary())
    Console.result("checkpoint: \(file.path)")
    try SingleStage.writeJSON(
      output.json, data: data, model: model, name: ModelOptions.describe(arch, file: modelOptions.architectureFile),
      settings: ["quantization: \(recipe.title), \(recipe.ranges)"],
      stage: StageResult(stage: "PTQ", recipe: recipe.title, ranges: recipe.ranges, accuracy: acc, seconds: t, checkpoint: file.lastPathComponent))
  }
}
