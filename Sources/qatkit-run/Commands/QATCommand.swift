import Foundation
import QATKit

/// `qatkit-run qat`: fine-tunes a PTQ checkpoint with fake quantization in the forward pass.
struct QATCommand: Command {
  static let name = "qat"
  static let abstract = "quantization-aware training: fine-tune a PTQ checkpoint"
  static let usage = ["qat --checkpoint PTQ.safetensors [--epochs N] [--lr X] [--range-lr X] [--output FILE]"]
  static let discussion = """
    Restores the PTQ checkpoint (its quantizers and ranges), fine-tunes the weights with Adam
    and cross-entropy, frozen ranges staying as calibrated and learned ranges (LSQ) training at
    --range-lr, and writes DIR/qat.safetensors. Data and labels are prepared as recorded in the
    checkpoint unless --data is given.

    Example: qatkit-run qat --checkpoint runs/iris/ptq.safetensors --epochs 30
    """
  static let options: [OptionSpec] = [
    .option("--checkpoint", "FILE", "the PTQ checkpoint (from quantize)"),
    .option("--epochs", "N", "epochs (default: 10)"),
    .option("--batch-size", "N", "mini-batch size (default: as for train)"),
    .option("--lr", "X", "learning rate of the weights (default: 1e-4)"),
    .option("--range-lr", "X", "learning rate of learned ranges (default: 1e-2)"),
  ] + DataOptions.specs + [ModelOptions.checkpointModelSpec] + OutputOptions.specs(defaultFile: "qat.safetensors", report: false)

  let checkpoint: URL
  let settings: (epochs: Int, batch: Int?, lr: Float, rangeLR: Float)
  let dataOptions: DataOptions
  let modelOptions: ModelOptions
  let output: OutputOptions

  init(_ a: ParsedArguments) throws {
    guard let c = try a.existingFile("--checkpoint") else { throw CLIError.usage("qat needs --checkpoint FILE (a PTQ checkpoint from quantize)") }
    checkpoint = c
    settings = (
      try a.int("--epochs", default: 10, in: 0...100_000),
      a.string("--batch-size") == nil ? nil : try a.int("--batch-size", default: 64, in: 1...1_000_000),
      Float(try a.double("--lr", default: 1e-4, in: 1e-9...10)), Float(try a.double("--range-lr", default: 1e-2, in: 1e-9...10)))
    dataOptions = try DataOptions(a)
    modelOptions = try ModelOptions(a)
    output = OutputOptions(a)
  }

  func run() throws {
    let (model, arch, data) = try Checkpoints.load(checkpoint, model: modelOptions, data: dataOptions)
    guard !model.namedQuantizers().isEmpty else {
      throw CLIError.input("\(checkpoint.lastPathComponent) has no quantizers; run quantize first (qat fine-tunes a PTQ checkpoint)")
    }
    let train = TrainingSettings(
      epochs: settings.epochs, batchSize: settings.batch ?? TrainOptionsDefaults.batch(rows: data.train.count),
      learningRate: settings.lr, rangeLearningRate: settings.rangeLR, seed: data.record.seed)
    let before = try Stages.accuracy(model, on: data.test)
    let (curve, t) = try Stages.train(model, data: data, settings: train, stage: "QAT")
    let file = output.file("qat.safetensors", data: data)
    try Checkpoints.save(model, to: file, architecture: arch, data: data.record)
    let acc = try Stages.accuracy(model, on: data.test)
    Console.result(data.summary)
    Console.result("QAT: \(train.summary)\(Stages.hasLearnedRanges(model) ? ", learned ranges at \(shortNumber(train.rangeLearningRate))" : "")")
    Console.result("test accuracy: PTQ \(pct(before)) → QAT \(pct(acc)) (\(secs(t)))")
    Console.result("checkpoint: \(file.path)")
    try SingleStage.writeJSON(
      output.json, data: data, model: model, name: ModelOptions.describe(arch, file: modelOptions.architectureFile),
      settings: ["QAT: \(train.summary)"],
      stage: StageResult(stage: "QAT", recipe: checkpoint.lastPathComponent, ranges: Stages.hasLearnedRanges(model) ? "learned" : "frozen",
        accuracy: acc, seconds: t, checkpoint: file.lastPathComponent, curve: curve))
  }
}

/// Defaults shared by the single-stage commands.
enum TrainOptionsDefaults {
  /// 64, or a tenth of the training rows (at least 8) when there are fewer than 640.
  static func batch(rows: Int) -> Int { rows >= 640 ? 64 : max(8, (rows + 5) / 10) }
}
