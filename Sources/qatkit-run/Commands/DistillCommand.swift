import Foundation
import QATKit

/// `qatkit-run distill`: QAT with distillation from the FP32 teacher.
struct DistillCommand: Command {
  static let name = "distill"
  static let abstract = "QAT with knowledge distillation from the FP32 teacher (QAT+KD)"
  static let usage = ["distill --checkpoint PTQ.safetensors --teacher FP32.safetensors [--epochs N] [--temperature T] [--kd-weight W] [--kd-reduction mean]"]
  static let discussion = """
    Restores the PTQ checkpoint as the student and the FP32 checkpoint as the frozen teacher,
    fine-tunes with (1 - W)·cross-entropy + W·T²·KL(teacher ‖ student) and writes
    DIR/qat-kd.safetensors (the student only; it restores onto a plain model).
    --kd-reduction mean divides the KL by the class count, as ModelOpt's LogitsDistillationLoss.

    Example: qatkit-run distill --checkpoint runs/iris/ptq.safetensors --teacher runs/iris/fp32.safetensors
    """
  static let options: [OptionSpec] = [
    .option("--checkpoint", "FILE", "the PTQ checkpoint (the student)"),
    .option("--teacher", "FILE", "the FP32 checkpoint (the teacher)"),
    .option("--epochs", "N", "epochs (default: 10)"),
    .option("--batch-size", "N", "mini-batch size (default: as for train)"),
    .option("--lr", "X", "learning rate of the weights (default: 1e-4)"),
    .option("--range-lr", "X", "learning rate of learned ranges (default: 1e-2)"),
  ] + TrainOptions.kdSpecs + DataOptions.specs + [ModelOptions.checkpointModelSpec]
    + OutputOptions.specs(defaultFile: "qat-kd.safetensors", report: false)

  let checkpoint: URL
  let teacher: URL
  let epochs: Int
  let batch: Int?
  let lr: Float
  let rangeLR: Float
  let kd: TrainOptions
  let dataOptions: DataOptions
  let modelOptions: ModelOptions
  let output: OutputOptions

  init(_ a: ParsedArguments) throws {
    guard let c = try a.existingFile("--checkpoint"), let t = try a.existingFile("--teacher") else {
      throw CLIError.usage("distill needs --checkpoint FILE (the PTQ student) and --teacher FILE (the FP32 model)")
    }
    checkpoint = c
    teacher = t
    epochs = try a.int("--epochs", default: 10, in: 0...100_000)
    batch = a.string("--batch-size") == nil ? nil : try a.int("--batch-size", default: 64, in: 1...1_000_000)
    lr = Float(try a.double("--lr", default: 1e-4, in: 1e-9...10))
    rangeLR = Float(try a.double("--range-lr", default: 1e-2, in: 1e-9...10))
    kd = try TrainOptions(a)
    dataOptions = try DataOptions(a)
    modelOptions = try ModelOptions(a)
    output = OutputOptions(a)
  }

  func run() throws {
    let (student, arch, data) = try Checkpoints.load(checkpoint, model: modelOptions, data: dataOptions)
    let (teacherModel, _, _) = try Checkpoints.load(teacher, model: modelOptions, data: dataOptions)
    guard teacherModel.namedQuantizers().isEmpty else {
      throw CLIError.input("--teacher \(teacher.lastPathComponent) is quantized; the teacher is the FP32 model (fp32.safetensors)")
    }
    let settings = TrainingSettings(
      epochs: epochs, batchSize: batch ?? TrainOptionsDefaults.batch(rows: data.train.count), learningRate: lr,
      rangeLearningRate: rangeLR, seed: data.record.seed)
    let before = try Stages.accuracy(student, on: data.test)
    let (dm, curve, t) = try Stages.distill(student, teacher: teacherModel, data: data, settings: settings, kd: kd.kd(teacher:), stage: "QAT+KD")
    let file = output.file("qat-kd.safetensors", data: data)
    try Checkpoints.save(dm, to: file, architecture: arch, data: data.record)
    let acc = try Stages.accuracy(dm, on: data.test)
    Console.result(data.summary)
    Console.result("QAT+KD: \(settings.summary); \(kd.kdSummary)")
    let teacherAccuracy = try Stages.accuracy(teacherModel, on: data.test)
    Console.result("test accuracy: PTQ \(pct(before)) → QAT+KD \(pct(acc)) (teacher \(pct(teacherAccuracy)); \(secs(t)))")
    Console.result("checkpoint: \(file.path)")
    try SingleStage.writeJSON(
      output.json, data: data, model: student, name: ModelOptions.describe(arch, file: modelOptions.architectureFile),
      settings: ["QAT+KD: \(settings.summary); \(kd.kdSummary)"],
      stage: StageResult(stage: "QAT+KD", recipe: checkpoint.lastPathComponent, ranges: Stages.hasLearnedRanges(student) ? "learned" : "frozen",
        accuracy: acc, seconds: t, checkpoint: file.lastPathComponent, curve: curve))
  }
}
