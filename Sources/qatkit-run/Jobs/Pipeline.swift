import Foundation
import QATKit
import QATRegistry

/// FP32 training (or loaded weights) → for each recipe PTQ → QAT → QAT+KD on prepared data,
/// with checkpoints, the table, `--json` and the HTML report. `run --data/--model` and
/// `recipe` build one of these.
///
/// Data-parallel when `world` has several ranks (`mpirun -np N qatkit-run --data ...`): every
/// stage runs on each rank's shard of every batch (``Stages``), the test accuracies are counted
/// over the ranks' shards, rank 0 prints and writes the checkpoints, the JSON results and the
/// report, and every rank restores the distilled checkpoints it checks.
struct Pipeline {
  let data: PreparedData
  let modelOptions: ModelOptions
  /// FP32 stage (0 epochs: loaded weights are evaluated as they are).
  let fp32Settings: TrainingSettings
  let recipes: [QuantRecipe]
  /// QAT stage; nil skips it.
  let qatSettings: TrainingSettings?
  /// QAT+KD stage; nil skips it.
  let kdSettings: TrainingSettings?
  /// The distillation setup for a teacher.
  let makeKD: (Module) throws -> KDConfig
  /// Lines describing the settings (shown in the header and the report).
  let settingsLines: [String]
  let out: URL
  let json: URL?
  let report: URL?
  let command: String
  var world: any Communicator = DistributedSession.world

  private var environment: QuantizationEnvironment { Checkpoints.registry.quantizationEnvironment }

  /// Runs everything and returns the results (also printed and written).
  @discardableResult
  func run() throws -> RunResults {
    let seed = data.record.seed
    let (fp32, arch) = try modelOptions.build(for: data, seed: seed)
    let modelName = ModelOptions.describe(arch, file: modelOptions.architectureFile)
      + (modelOptions.weights.map { ", weights \($0.lastPathComponent)" } ?? "")
    var results = RunResults(
      command: command, data: data.summary, classes: data.train.labelNames, model: modelName,
      parameters: fp32.parameters().reduce(0) { $0 + $1.count }, settings: settingsLines)
    Console.result(data.summary)
    Console.result("model: \(modelName), \(results.parameters) parameters")
    for s in results.settings { Console.result(s) }

    // 1. FP32.
    let (curve, t) = try Stages.train(fp32, data: data, settings: fp32Settings, stage: "FP32", world: world)
    try save(fp32, "fp32.safetensors", arch)
    results.stages.append(StageResult(
      stage: "FP32", recipe: fp32Settings.epochs == 0 ? modelName : "\(modelName), \(fp32Settings.summary)",
      ranges: "-", accuracy: try accuracy(fp32), seconds: t, checkpoint: "fp32.safetensors", curve: curve))
    Console.note("FP32: \(pct(results.stages[0].accuracy))")

    var verified = 0
    for recipe in recipes {
      try Interrupt.check()
      // 2. PTQ on a copy of the FP32 model.
      let ptq = try fp32.copy(environment: environment)
      let config = try recipe.quantizeConfig(for: ptq)
      if recipe.learned, !config.quantCfg.contains(where: { $0.cfg?.algorithm == "lsq" }) {
        Console.note("\(recipe.title): no integer activation quantizer to learn a range for; skipping the learned-range variant")
        continue
      }
      let tPTQ = try Stages.quantize(ptq, config: config, data: data, world: world)
      try save(ptq, "\(recipe.tag)-ptq.safetensors", arch)
      results.stages.append(StageResult(
        stage: "PTQ", recipe: recipe.title, ranges: recipe.ranges, accuracy: try accuracy(ptq),
        seconds: tPTQ, checkpoint: "\(recipe.tag)-ptq.safetensors"))
      Console.note("PTQ \(recipe.title), \(recipe.ranges): \(pct(results.stages.last!.accuracy))")
      var last: (stage: String, model: Module)? = nil

      // 3. QAT from the PTQ model.
      if let qatSettings {
        let qat = try ptq.copy(environment: environment)
        let (qatCurve, tQAT) = try Stages.train(
          qat, data: data, settings: qatSettings, stage: "QAT \(recipe.title), \(recipe.ranges)", world: world)
        try save(qat, "\(recipe.tag)-qat.safetensors", arch)
        results.stages.append(StageResult(
          stage: "QAT", recipe: recipe.title, ranges: recipe.ranges, accuracy: try accuracy(qat),
          seconds: tQAT, checkpoint: "\(recipe.tag)-qat.safetensors", curve: qatCurve))
        Console.note("QAT \(recipe.title), \(recipe.ranges): \(pct(results.stages.last!.accuracy))")
        last = ("QAT", qat)
      }

      // 4. QAT + KD from the PTQ model, the FP32 model as teacher.
      if let kdSettings {
        let (dm, kdCurve, tKD) = try Stages.distill(
          ptq.copy(environment: environment), teacher: fp32.copy(environment: environment), data: data,
          settings: kdSettings, kd: makeKD, stage: "QAT+KD \(recipe.title), \(recipe.ranges)", world: world)
        let kdFile = "\(recipe.tag)-qat-kd.safetensors"
        try save(dm, kdFile, arch)
        results.stages.append(StageResult(
          stage: "QAT+KD", recipe: recipe.title, ranges: recipe.ranges, accuracy: try accuracy(dm),
          seconds: tKD, checkpoint: kdFile, curve: kdCurve))
        Console.note("QAT+KD \(recipe.title), \(recipe.ranges): \(pct(results.stages.last!.accuracy))")
        // The saved student restores onto a fresh model, bit for bit (on every rank: from the
        // shared file system, or from rank 0's bytes).
        let check = try restore(
          arch.build(seed: seed &+ 1), from: world.sharedFile(out.appendingPathComponent(kdFile)), registry: Checkpoints.registry)
        let x = data.test.prefix(1024).all.inputs
        let same = Tensor.withoutGrad { check.eval(); dm.student.eval(); return check(x).scalars == dm.student(x).scalars }
        guard try world.all(same) else {
          throw CLIError.failure("restoring \(kdFile) did not reproduce the trained model\(same && world.size > 1 ? " on another rank" : "")")
        }
        verified += 1
        last = ("QAT+KD", dm.student)
      }
      // Ranges and SQNR for the report (rank 0 writes it; the models are the same on every rank).
      if let last, world.isRoot {
        results.layers += LayerStats.compare(
          before: ptq, after: last.model, inputs: data.test.prefix(1024).all.inputs, recipe: recipe.title, ranges: recipe.ranges,
          afterStage: last.stage)
      }
    }

    Console.result("")
    Console.result(results.table())
    Console.result("")
    Console.result("checkpoints in \(out.path)/"
      + (verified > 0 ? " (\(verified) QAT+KD checkpoint\(verified == 1 ? "" : "s") restored onto fresh models with bit-identical outputs)" : ""))
    if let json {
      try results.writeJSON(to: json)
      Console.result("results: \(json.path)")
    }
    if let report {
      try HTMLReport(results: results).write(to: report)
      Console.result("report: \(report.path)")
    }
    return results
  }

  /// Test accuracy, each rank counting its shard of the test rows.
  private func accuracy(_ model: Module) throws -> Float { try Stages.accuracy(model, on: data.test, world: world) }

  /// Writes a checkpoint under ``out`` (rank 0; see ``OutputFiles``).
  private func save(_ model: Module, _ name: String, _ arch: Architecture) throws {
    try Checkpoints.save(model, to: out.appendingPathComponent(name), architecture: arch, data: data.record)
  }
}
