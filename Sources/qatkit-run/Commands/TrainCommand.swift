import Foundation
import QATKit

/// `qatkit-run train`: trains the FP32 model on a CSV (or the bundled digits) and writes a
/// checkpoint that records the architecture and the data preparation.
struct TrainCommand: Command {
  static let name = "train"
  static let abstract = "train the FP32 model on a CSV and save a checkpoint"
  static let usage = ["train --data FILE.csv --label-column NAME [--model ARCH.json | --hidden N,N] [--epochs N] [--output FILE]"]
  static let discussion = """
    Splits the data (stratified, seeded; or --test), standardizes with the training rows'
    statistics, trains with Adam and cross-entropy and writes DIR/fp32.safetensors. The
    checkpoint records the architecture, the label mapping and the scaler, so quantize, qat,
    distill, eval and export need only the file. --weights starts from existing weights.

    Example: qatkit-run train --data Examples/byo/iris.csv --label-column species --epochs 100
    """
  static let options: [OptionSpec] =
    DataOptions.specs + ModelOptions.specs + TrainOptions.fp32Specs + OutputOptions.specs(defaultFile: "fp32.safetensors", report: false)

  let dataOptions: DataOptions
  let modelOptions: ModelOptions
  let train: TrainOptions
  let output: OutputOptions

  init(_ a: ParsedArguments) throws {
    dataOptions = try DataOptions(a)
    modelOptions = try ModelOptions(a)
    train = try TrainOptions(a)
    output = OutputOptions(a)
  }

  func run() throws {
    let data = try dataOptions.load(modelInputShape: modelOptions.declaredInputShape())
    let (model, arch) = try modelOptions.build(for: data, seed: data.record.seed)
    let settings = train.fp32(rows: data.train.count, seed: data.record.seed, pretrained: false)
    let name = ModelOptions.describe(arch, file: modelOptions.architectureFile)
    Console.result(data.summary)
    Console.result("model: \(name); FP32: \(settings.summary)")
    let (curve, t) = try Stages.train(model, data: data, settings: settings, stage: "FP32")
    let file = output.file("fp32.safetensors", data: data)
    try Checkpoints.save(model, to: file, architecture: arch, data: data.record)
    let acc = try Stages.accuracy(model, on: data.test)
    let trainAccuracy = try Stages.accuracy(model, on: data.train)
    Console.result("FP32 train accuracy \(pct(trainAccuracy)), test accuracy \(pct(acc)) (\(secs(t)))")
    Console.result("checkpoint: \(file.path)")
    try SingleStage.writeJSON(
      output.json, data: data, model: model, name: name, settings: ["FP32: \(settings.summary)"],
      stage: StageResult(stage: "FP32", recipe: name, ranges: "-", accuracy: acc, seconds: t, checkpoint: file.lastPathComponent, curve: curve))
  }
}

/// `--json` for commands that run one stage.
enum SingleStage {
  static func writeJSON(
    _ url: URL?, data: PreparedData, model: Module, name: String, settings: [String], stage: StageResult
  ) throws {
    guard let url else { return }
    var r = RunResults(
      command: commandLineText(), data: data.summary, classes: data.train.labelNames, model: name,
      parameters: model.parameters().filter { $0.requiresGrad }.reduce(0) { $0 + $1.count }, settings: settings)
    r.stages = [stage]
    try r.writeJSON(to: url)
    Console.result("results: \(url.path)")
  }
}
