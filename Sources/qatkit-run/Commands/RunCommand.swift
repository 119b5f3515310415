import Foundation
import QATKit

/// `qatkit-run [run]`: the default job. Without data or model options, FP32 → PTQ → QAT →
/// QAT+KD on the bundled digits as the PyTorch + ModelOpt reference runs it; with them, the
/// same pipeline on the user's CSV and model (``Pipeline``).
struct RunCommand: Command {
  static let name = "run"
  static let abstract = "FP32 → PTQ → QAT → QAT+KD on your CSV and model, or on the bundled digits (the default)"
  static let usage = [
    "[run] [--out DIR] [--qat-epochs N]",
    "[run] --data FILE.csv --label-column NAME [--test FILE.csv] [--hidden N,N] [--weight-bits W] [--act-bits A] [--json FILE]",
    "[run] --model ARCH.json --weights FILE.safetensors [--input-shape C,H,W] [--data FILE.csv ...] [--quant-cfg FILE|PRESET]",
  ]
  static let discussion = """
    Without options: trains the FP32 MLP 64-256-256-10 on the bundled digits as the PyTorch +
    ModelOpt reference does, then for each reference recipe runs PTQ, QAT and QAT with
    distillation from the FP32 teacher, writes every checkpoint to --out and checks that each
    distilled checkpoint restores bit-identically.

    With --data (a CSV with a header; labels may be integers or class names) and/or --model:
    trains the FP32 model (an MLP sized to the data unless --model is given; --weights loads
    PyTorch weights instead of training), holds out a stratified, seeded test split (or uses
    --test) and standardizes with statistics of the training rows only. Then, for INT8 and the
    W<weight-bits>A<act-bits> recipe with frozen ranges (--calibrator) and the same recipe
    with learned ranges (MSE-initialized LSQ), it runs PTQ → QAT → QAT+KD, writes the
    checkpoints to --out, prints the table and writes the HTML report (and --json).

    Examples:
      qatkit-run --data Examples/byo/iris.csv --label-column species
      qatkit-run --model Examples/byo/cnn_seq_digits.json --weights Examples/byo/cnn_seq_digits.safetensors
      qatkit-run --data mydata.csv --label-column y --quant-cfg INT8_DEFAULT_CFG --json results.json

    Both run data-parallel under mpirun (mpirun -np N qatkit-run ...): every stage runs on each
    rank's shard of every batch, with the gradients and calibration statistics combined across
    ranks (same batches, same order, same PTQ ranges as one process); rank 0 prints the table
    and writes the checkpoints, the JSON and the report. Every rank reads the data and model
    files itself (a shared file system, or copies at the same paths; checked).
    """
  static let options: [OptionSpec] =
    DataOptions.specs + ModelOptions.specs + QuantOptions.specs + TrainOptions.fp32Specs + TrainOptions.qatSpecs
    + TrainOptions.kdSpecs + OutputOptions.specs(defaultFile: nil, report: true)

  /// Options of the bundled digits reference job only.
  private static let digitsOnly: Set<String> = ["--out", "--qat-epochs", "--quiet"]

  let arguments: ParsedArguments

  init(_ arguments: ParsedArguments) throws {
    self.arguments = arguments
    // Validate everything up front (values, combinations) so errors come before any work.
    if isCustom {
      _ = try DataOptions(arguments)
      _ = try ModelOptions(arguments)
      _ = try QuantOptions(arguments)
      _ = try TrainOptions(arguments)
    } else {
      _ = try arguments.int("--qat-epochs", default: 10, in: 0...10_000)
    }
  }

  /// Whether any option beyond the digits job's was given.
  private var isCustom: Bool {
    !(arguments.givenNames.allSatisfy { Self.digitsOnly.contains($0) })
  }

  func run() throws {
    guard isCustom else {
      let out = arguments.url("--out") ?? URL(fileURLWithPath: "runs")
      try DigitsPipeline(
        out: out, qatEpochs: try arguments.int("--qat-epochs", default: 10, in: 0...10_000), world: DistributedSession.world
      ).run()
      return
    }
    let dataOptions = try DataOptions(arguments)
    let modelOptions = try ModelOptions(arguments)
    let data = try dataOptions.load(modelInputShape: modelOptions.declaredInputShape())
    let output = OutputOptions(arguments)
    let out = output.directory(for: data)
    let train = try TrainOptions(arguments)
    let seed = data.record.seed
    let fp32 = train.fp32(rows: data.train.count, seed: seed, pretrained: modelOptions.weights != nil)
    let qat = train.qat(rows: data.train.count, seed: seed, fp32Epochs: fp32.epochs)
    let quant = try QuantOptions(arguments)
    try Pipeline(
      data: data, modelOptions: modelOptions, fp32Settings: fp32, recipes: quant.runRecipes(), qatSettings: qat,
      kdSettings: qat, makeKD: train.kd(teacher:),
      settingsLines: [
        "FP32: " + (fp32.epochs == 0 ? "loaded weights, not trained" : fp32.summary),
        "QAT and QAT+KD: \(qat.summary), learned ranges at \(shortNumber(qat.rangeLearningRate))",
        "QAT+KD: \(train.kdSummary), teacher = the FP32 model",
        "calibration: the \(data.train.count) training rows",
      ],
      out: out, json: output.json, report: output.report ?? out.appendingPathComponent("report.html"), command: commandLineText()
    ).run()
  }
}
