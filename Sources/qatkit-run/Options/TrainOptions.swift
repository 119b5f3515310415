import Foundation
import QATKit

/// Epochs, batch size and learning rates of the FP32, QAT and QAT+KD stages, and the
/// distillation loss.
struct TrainOptions {
  static let fp32Specs: [OptionSpec] = [
    .option("--epochs", "N", "FP32 training epochs (default: enough for about 1000 steps, at least 30; 0 with --weights)"),
    .option("--batch-size", "N", "mini-batch size (default: 64, or a tenth of the training rows when fewer than 640)"),
    .option("--lr", "X", "FP32 learning rate, Adam (default: 1e-3)"),
  ]
  static let qatSpecs: [OptionSpec] = [
    .option("--qat-epochs", "N", "QAT and QAT+KD epochs (default: a third of the FP32 epochs, at least 10)"),
    .option("--qat-lr", "X", "QAT learning rate of the weights (default: 1e-4)"),
    .option("--range-lr", "X", "learning rate of learned ranges (default: 1e-2)"),
  ]
  static let kdSpecs: [OptionSpec] = [
    .option("--temperature", "T", "distillation temperature (default: 1)"),
    .option("--kd-weight", "W", "weight of the KD loss; the label loss gets 1 - W (default: 0.5)"),
    .option("--kd-reduction", "NAME", "batchmean (per-sample KL, default) or mean (ModelOpt's LogitsDistillationLoss)"),
  ]

  var epochs: Int?
  var qatEpochs: Int?
  var batchSize: Int?
  var lr: Float
  var qatLR: Float
  var rangeLR: Float
  var temperature: Float
  var kdWeight: Float
  var reduction: KLReduction

  init(_ a: ParsedArguments) throws {
    epochs = a.string("--epochs") == nil ? nil : try a.int("--epochs", default: 0, in: 0...100_000)
    qatEpochs = a.string("--qat-epochs") == nil ? nil : try a.int("--qat-epochs", default: 0, in: 0...100_000)
    batchSize = a.string("--batch-size") == nil ? nil : try a.int("--batch-size", default: 64, in: 1...1_000_000)
    lr = Float(try a.double("--lr", default: 1e-3, in: 1e-9...10))
    qatLR = Float(try a.double("--qat-lr", default: 1e-4, in: 1e-9...10))
    rangeLR = Float(try a.double("--range-lr", default: 1e-2, in: 1e-9...10))
    temperature = Float(try a.double("--temperature", default: 1, in: 1e-3...1000))
    kdWeight = Float(try a.double("--kd-weight", default: 0.5, in: 0...1))
    let r = a.string("--kd-reduction") ?? "batchmean"
    guard let reduction = KLReduction(rawValue: r) else {
      throw CLIError.usage("'--kd-reduction' expects batchmean or mean, got '\(r)'")
    }
    self.reduction = reduction
  }

  /// The batch size for `rows` training rows.
  func batch(rows: Int) -> Int { batchSize ?? (rows >= 640 ? 64 : max(8, (rows + 5) / 10)) }

  /// FP32 settings (`pretrained`: weights were loaded, so 0 epochs unless given).
  func fp32(rows: Int, seed: UInt64, pretrained: Bool) -> TrainingSettings {
    let b = batch(rows: rows)
    let steps = (rows + b - 1) / b
    let e = epochs ?? (pretrained ? 0 : min(500, max(30, (1000 + steps - 1) / steps)))
    return TrainingSettings(epochs: e, batchSize: b, learningRate: lr, seed: seed)
  }

  /// QAT / QAT+KD settings after `fp32Epochs` FP32 epochs.
  func qat(rows: Int, seed: UInt64, fp32Epochs: Int) -> TrainingSettings {
    let b = batch(rows: rows)
    let e = qatEpochs ?? max(10, fp32Epochs / 3)
    return TrainingSettings(epochs: e, batchSize: b, learningRate: qatLR, rangeLearningRate: rangeLR, seed: seed)
  }

  /// The distillation setup with `teacher`.
  func kd(teacher: Module) throws -> KDConfig {
    try KDConfig(
      teacher: teacher, criterion: LogitsKLCriterion(temperature: temperature, reduction: reduction),
      balancer: StaticBalancer(kdWeight: kdWeight))
  }

  /// `logits KL (T 1, batchmean), KD weight 0.5`.
  var kdSummary: String {
    "logits KL (T \(shortNumber(temperature)), \(reduction.rawValue)), KD weight \(shortNumber(kdWeight))"
  }
}
