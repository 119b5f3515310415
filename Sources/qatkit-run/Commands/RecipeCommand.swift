import Foundation

/// `qatkit-run recipe FILE.json [--set key.path=value ...]`: runs the stages a recipe file
/// describes.
struct RecipeCommand: Command {
  static let name = "recipe"
  static let abstract = "run the stages of a recipe file (data, model, train, quantize, qat, distill)"
  static let usage = ["recipe FILE.json [--set stages.qat.epochs=5 ...]"]
  static let discussion = """
    A recipe is JSON with the data, the model and the stages to run, each with its settings:

      {"data": {"file": "iris.csv", "label_column": "species", "test_fraction": 0.2, "seed": 0},
       "model": {"hidden": [16, 16]},
       "stages": {
         "train":    {"epochs": 100, "batch_size": 12, "optimizer": {"kind": "adam", "lr": 1e-3}},
         "quantize": {"config": "INT8_DEFAULT_CFG", "calibrator": "max"},
         "qat":      {"epochs": 30, "optimizer": {"kind": "adam", "lr": 1e-4}, "schedule": {"kind": "cosine"}},
         "distill":  {"epochs": 30, "criterion": {"kind": "logits_kl", "temperature": 1},
                      "balancer": {"kind": "static", "kd_weights": [0.5]}}},
       "output": {"dir": "runs/iris-int8"}}

    data: file, label_column, test_file, test_fraction, seed, ignore_columns, standardize,
    input_shape (no data: the bundled digits). model: architecture (a file or an inline
    layer list), weights, rename, hidden. stages.quantize.config: ModelOpt's JSON form,
    QATKit's, or a preset name; learned_ranges: true trains the activation ranges (LSQ).
    Optimizers: adam, adamw, sgd (lr, weight_decay, momentum, range_lr); schedules: constant,
    cosine (min_lr, warmup_steps), step (every, gamma). Without a train stage the model's
    weights are used as they are; stages run in the order train, quantize, qat, distill.
    Paths are relative to the recipe file; output.dir (default runs/<recipe name>) to the
    current directory. --set overrides any key before the recipe is checked (values are JSON,
    or text): --set stages.qat.epochs=5 --set data.seed=1 --set stages.quantize.config=int8.
    Unknown keys are errors naming the key path and the nearest valid key.
    """
  static let positionals = 1...1
  static let options: [OptionSpec] = [
    .option("--set", "KEY=VALUE", "override a key of the recipe, e.g. stages.qat.epochs=5", repeatable: true)
  ]

  let file: URL
  let overrides: [String]

  init(_ arguments: ParsedArguments) throws {
    file = URL(fileURLWithPath: arguments.positionals[0])
    guard FileManager.default.fileExists(atPath: file.path) else {
      throw CLIError.input("no such recipe file '\(file.path)'")
    }
    overrides = arguments.strings("--set")
  }

  func run() throws {
    let recipe = try RecipeFile(contentsOf: file, overrides: overrides)
    try recipe.pipeline(command: commandLineText()).run()
  }
}
