import Foundation
import QATKit

/// `qatkit-run eval`: test accuracy of a checkpoint or of PyTorch weights.
struct EvalCommand: Command {
  static let name = "eval"
  static let abstract = "test accuracy of a checkpoint, or of PyTorch weights with --model"
  static let usage = [
    "eval --checkpoint FILE [--data FILE.csv ...]",
    "eval --model ARCH.json --weights FILE.safetensors [--input-shape C,H,W] [--data FILE.csv ...]",
  ]
  static let discussion = """
    Prints the accuracy on the test rows (the recorded split, --test, or the bundled digits
    test set) and the number of correct predictions; --predictions FILE.csv writes one
    predicted class per test row. Under mpirun each rank predicts its share of the rows.

    Example: qatkit-run eval --model Examples/byo/cnn_seq_digits.json --weights Examples/byo/cnn_seq_digits.safetensors
    """
  static let options: [OptionSpec] =
    [.option("--checkpoint", "FILE", "a checkpoint written by qatkit-run (or any with --model)"),
     .option("--predictions", "FILE.csv", "write the predicted class of each test row")]
    + DataOptions.specs + ModelOptions.specs + [.option("--json", "FILE", "write the result as JSON")]

  let checkpoint: URL?
  let predictions: URL?
  let json: URL?
  let dataOptions: DataOptions
  let modelOptions: ModelOptions

  init(_ a: ParsedArguments) throws {
    checkpoint = try a.existingFile("--checkpoint")
    predictions = a.url("--predictions")
    json = a.url("--json")
    dataOptions = try DataOptions(a)
    modelOptions = try ModelOptions(a)
    if checkpoint == nil, modelOptions.weights == nil {
      throw CLIError.usage("eval needs --checkpoint FILE or --model ARCH.json --weights FILE")
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
    let predicted = try Stages.predictions(model, on: data.test)
    let correct = zip(predicted, data.test.labels).filter { $0 == $1 }.count
    let acc = Float(correct) / Float(max(data.test.count, 1))
    let name = ModelOptions.describe(arch, file: modelOptions.architectureFile)
    Console.result(data.summary)
    Console.result("\(checkpoint?.lastPathComponent ?? name): test accuracy \(pct(acc)) (\(correct) of \(data.test.count))")
    if let predictions {
      let names = data.test.labelNames
      var csv = "row,predicted,label\n"
      for (i, (p, y)) in zip(predicted, data.test.labels).enumerated() {
        csv += "\(i),\(names.map { $0.indices.contains(p) ? $0[p] : String(p) } ?? String(p)),\(names?[y] ?? String(y))\n"
      }
      try OutputFiles.write(Data(csv.utf8), to: predictions)
      Console.result("predictions: \(predictions.path)")
    }
    try SingleStage.writeJSON(
      json, data: data, model: model, name: name, settings: [],
      stage: StageResult(stage: model.namedQuantizers().isEmpty ? "FP32" : "quantized", recipe: checkpoint?.lastPathComponent ?? name,
        ranges: "-", accuracy: acc, seconds: 0, checkpoint: checkpoint?.lastPathComponent))
  }
}
