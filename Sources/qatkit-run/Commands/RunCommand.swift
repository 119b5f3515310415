import Foundation

/// `qatkit-run [run]`: the default job, FP32 → PTQ → QAT → QAT + KD on the bundled digits data.
struct RunCommand: Command {
  static let name = "run"
  static let abstract = "FP32 → PTQ → QAT → QAT+KD on the bundled digits data (the default)"
  static let usage = ["[run] [--out DIR] [--qat-epochs N]"]
  static let discussion = """
    Trains the FP32 MLP 64-256-256-10 as the PyTorch + ModelOpt reference does, then for each
    recipe runs PTQ, QAT and QAT with distillation from the FP32 teacher, writes every stage's
    checkpoint to --out and checks that each distilled checkpoint restores bit-identically.

    Under mpirun (mpirun -np N qatkit-run) every stage runs data-parallel: each rank trains,
    calibrates and evaluates on its shard of every batch, gradients and calibration statistics
    are combined across ranks, rank 0 writes the checkpoints and prints the table.
    """
  static let options: [OptionSpec] = [
    .option("--out", "DIR", "where checkpoints are written (default: runs)"),
    .option("--qat-epochs", "N", "QAT and QAT+KD epochs per recipe (default: 10)"),
  ]

  let out: URL
  let qatEpochs: Int

  init(_ arguments: ParsedArguments) throws {
    out = arguments.url("--out") ?? URL(fileURLWithPath: "runs")
    qatEpochs = try arguments.int("--qat-epochs", default: 10, in: 0...10_000)
  }

  func run() throws {
    try DigitsPipeline(out: out, qatEpochs: qatEpochs, world: DistributedSession.world).run()
  }
}
