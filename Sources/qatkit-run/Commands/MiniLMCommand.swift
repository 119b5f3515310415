import Foundation
import QATKit
import QATTransformers

/// `qatkit-run minilm`: the all-MiniLM-L6-v2 PTQ → QAD table next to ModelOpt's numbers.
struct MiniLMCommand: Command {
  static let name = "minilm"
  static let abstract = "all-MiniLM-L6-v2: PTQ with ModelOpt's configs, then QAD (frozen and LSQ ranges)"
  static let usage = ["minilm [--model DIR] [--configs LIST] [--ranges LIST] [--epochs N] [--out DIR] [...]"]
  static let discussion = """
    For each config: PTQ (calibration on the first 256 sentences of the corpus, batches of
    32), evaluation on eval.txt against the FP32 embeddings (mean / min cosine, nearest-
    neighbour agreement), then QAD from the FP32 teacher (loss mean(1 - cos) on the sentence
    embeddings, Adam, batches of 32, every parameter trained) with two recipes: 'frozen' is
    ModelOpt's reference script (max-calibrated frozen ranges, the model's dropout); 'lsq' is
    QATKit's (integer quantizers learn their ranges with LSQ, activation ranges start from the
    percentile calibrator, no dropout; FP8/FP4 ranges stay as calibrated). With --algorithm,
    'lsq' runs the algorithm on the built-in quantizers (their calibrators as above) and then
    the LSQ plugin's lsq_ranges mode: every integer range the algorithm left (and its
    pre_quant_scale) becomes the initial value of an LSQ range. Checkpoints (PTQ and QAD) and results.json
    go to --out; every QAD checkpoint is restored onto a fresh model and checked bit for bit.
    Progress goes to stderr, the table to stdout. The sentence files are bundled (--data DIR
    reads corpus_train.txt and eval.txt from elsewhere).

    Configs: \(BertQuantization.Recipe.allCases.map(\.rawValue).joined(separator: ", ")). The
    '_no_ln' variants disable ModelOpt's LayerNorm input quantizers (the unified checkpoint has
    no place for them); without --configs all but fp8_no_ln, nvfp4_no_ln, mxfp4_no_ln and
    w4a8_no_ln run.
    """
  static let options: [OptionSpec] = [
    .option("--model", "DIR", "model directory (default: $QATKIT_MINILM_DIR or scripts/fetch-minilm.sh's)"),
    .option("--data", "DIR", "directory with corpus_train.txt and eval.txt (default: bundled)"),
    .option("--configs", "LIST", "comma-separated configs (default: ModelOpt's and int8_no_ln)"),
    .option("--ranges", "LIST", "QAD range handling: frozen, lsq, or both (default: frozen,lsq)"),
    .option("--epochs", "N", "QAD epochs over the corpus (default: 2; 0 = PTQ only)"),
    .option("--batch-size", "N", "QAD batch size (default: 32)"),
    .option("--lr", "RATE", "Adam learning rate of the weights (default: 2e-5, ModelOpt's script)"),
    .option("--range-lr", "RATE", "learning rate of learned (LSQ) activation ranges, relative to each range's size (default: 1e-2)"),
    .option("--weight-range-lr", "RATE", "learning rate of learned (LSQ) weight ranges, relative to each range's size (default: 1e-3)"),
    .option("--calibrator", "NAME", "calibrator of every weight range and of the frozen runs' activations (default: max, ModelOpt's)"),
    .option("--lsq-calibrator", "NAME", "calibrator of the activation ranges in the lsq runs (default: percentile)"),
    .flag("--no-dropout", "train the frozen runs without dropout (ModelOpt's script trains with the model's 0.1)"),
    .option("--hidden-kd", "W", "weight of hidden-state distillation on every encoder layer, 0…1 (default: 0)"),
    .option(
      "--algorithm", "SPEC",
      "calibration algorithm to run every config with: none (plain), a name (awq_lite, awq_clip, awq_full, gptq, smoothquant) or a JSON object {\"method\": ..., options}; repeat to compare several (default: none). With --ranges lsq the algorithm runs on the built-in quantizers, then the lsq_ranges mode turns their ranges into LSQ's initial values",
      repeatable: true),
    .option("--seed", "N", "shuffling seed (default: 0)"),
    .option("--out", "DIR", "checkpoints and results.json (default: runs/minilm)"),
    .option("--golden", "FILE", "eval_golden.json: also check the FP32 model against sentence-transformers"),
  ]

  let job: MiniLMJob

  init(_ arguments: ParsedArguments) throws {
    try DistributedSession.requireSingleProcess("minilm")
    let recipes = try (arguments.string("--configs")?.split(separator: ",").map(String.init)).map { names in
      try names.map { name in
        do { return try BertQuantization.Recipe(named: name) } catch { throw CLIError.usage("--configs: \(error)") }
      }
    } ?? BertQuantization.Recipe.standard
    let ranges = try (arguments.string("--ranges") ?? "frozen,lsq").split(separator: ",").map { name in
      guard let r = MiniLMJob.Ranges(rawValue: String(name)) else {
        throw CLIError.usage("--ranges: unknown '\(name)'; use frozen, lsq or frozen,lsq")
      }
      return r
    }
    let algorithms: [CalibrationAlgorithmSpec?] = try arguments.strings("--algorithm").map { text in
      if text == "none" { return nil }
      guard text.hasPrefix("{") else { return CalibrationAlgorithmSpec(text) }
      do {
        return try JSONValue(parsing: text).decode(CalibrationAlgorithmSpec.self, context: "--algorithm")
      } catch { throw CLIError.usage("--algorithm \(text): \(error)") }
    }
    // Options first, the model last: a bad option is a usage error whether or not the model is installed.
    let epochs = try arguments.int("--epochs", default: 2, in: 0...1000)
    let batchSize = try arguments.int("--batch-size", default: 32, in: 1...4096)
    let learningRate = Float(try arguments.double("--lr", default: 2e-5, in: 0...1))
    let rangeLearningRate = Float(try arguments.double("--range-lr", default: 1e-2, in: 0...10))
    let weightRangeLearningRate = Float(try arguments.double("--weight-range-lr", default: 1e-3, in: 0...10))
    let hiddenWeight = Float(try arguments.double("--hidden-kd", default: 0, in: 0...1))
    let seed = UInt64(try arguments.int("--seed", default: 0, in: 0...Int(Int32.max)))
    job = MiniLMJob(
      modelDirectory: try MiniLMFiles.directory(arguments.url("--model")), dataDirectory: arguments.url("--data"),
      recipes: recipes, algorithms: algorithms.isEmpty ? [nil] : algorithms, ranges: ranges, epochs: epochs,
      batchSize: batchSize, learningRate: learningRate, rangeLearningRate: rangeLearningRate,
      weightRangeLearningRate: weightRangeLearningRate,
      calibrator: arguments.string("--calibrator") ?? "max", lsqCalibrator: arguments.string("--lsq-calibrator") ?? "percentile",
      dropout: !arguments.flag("--no-dropout"), hiddenWeight: hiddenWeight, seed: seed,
      out: arguments.url("--out") ?? URL(fileURLWithPath: "runs/minilm"), golden: arguments.url("--golden"))
  }

  func run() throws { try job.run() }
}
