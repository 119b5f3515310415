import Foundation
import QATKit
import QATPlugins
import QATRegistry

/// The default job: FP32 baseline → PTQ → QAT → QAT + distillation on the bundled digits data,
/// for the reference recipes, with checkpoints written and restored.
///
/// Data-parallel when `world` has several ranks: training, calibration and evaluation run on
/// each rank's shard of every batch (``Training/fit(_:data:epochs:batchSize:optimizer:seed:schedule:clipNorm:communicator:loss:epochEnd:)``,
/// `convert(communicator:)`), rank 0 writes every checkpoint and every rank restores it.
struct DigitsPipeline {
  let out: URL
  let qatEpochs: Int
  var world: any Communicator = SingleProcessCommunicator()
  let registry = ToolRegistry.registry

  func run() throws {
    try world.onRoot { try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true) }
    let (train, test) = try Digits.load()
    print("digits: \(train.count) train / \(test.count) test rows, 64 features (bundled, reference split)")
    // Test accuracy, each rank evaluating its shard.
    func accuracy(_ model: Module) throws -> Float { try Training.accuracy(model, on: test, communicator: world) }

    // 1. FP32 baseline, exactly the reference recipe.
    let fp32 = MLP([64, 256, 256, 10])
    let (_, tFP) = try timed {
      try Training.fit(
        fp32, data: train, epochs: 30, batchSize: 64, optimizer: Adam(fp32.parameters(), learningRate: 1e-3), communicator: world
      ) {
        Loss.crossEntropy(fp32($0), $1)
      }
    }
    let fpURL = try saved(fp32, "fp32.safetensors")
    var table = Table(header: ["stage", "recipe", "ranges", "test acc", "PyTorch+ModelOpt", "time"])
    table.add(["FP32", "MLP 64-256-256-10, Adam 1e-3, 30 ep", "-", pct(try accuracy(fp32)), pct(Reference.fp32), secs(tFP)])

    func freshFP32() throws -> MLP {
      let m = MLP([64, 256, 256, 10], seed: 1234)
      try restore(m, from: fpURL, registry: registry)
      return m
    }
    let calibration = train.shardedBatches(size: 256, communicator: world)
    let forwardLoop: (Module) throws -> Void = { m in for b in calibration { _ = m(b.inputs) } }

    let variants: [(ranges: String, recipes: [Recipe], algorithm: String)] = [
      ("max, frozen", Recipe.recipes(calibrator: "max"), "static"),
      ("mse, frozen", Recipe.recipes(calibrator: "mse").filter { $0.name != "int8" }, "static"),
      ("mse → LSQ learned", Recipe.recipes(calibrator: "mse", algorithm: "lsq").filter { $0.name != "int8" }, "lsq"),
    ]
    var verified = 0
    for variant in variants {
      for recipe in variant.recipes {
        let ref = variant.ranges.hasPrefix("max") ? Reference.table[recipe.name] : nil
        let tag = "\(recipe.name)-\(variant.algorithm)-\(variant.ranges.split(separator: ",")[0].split(separator: " ")[0])"
        // PTQ: insert quantizers and calibrate on the training rows.
        let student = try freshFP32()
        let (_, tPTQ) = try timed { try convert(student, modes: [.quantize(recipe.config)], registry: registry, forwardLoop: forwardLoop, communicator: world) }
        let ptqURL = try saved(student, "\(tag)-ptq.safetensors")
        table.add(["PTQ", recipe.title, variant.ranges, pct(try accuracy(student)), ref.map { pct($0.ptq) } ?? "-", secs(tPTQ)])

        // QAT: restore the PTQ checkpoint, fine-tune 10 epochs at 1e-4.
        let qat = MLP([64, 256, 256, 10], seed: 77)
        try restore(qat, from: ptqURL, registry: registry)
        let (_, tQAT) = try timed {
          try Training.fit(qat, data: train, epochs: qatEpochs, batchSize: 64, optimizer: optimizer(for: qat), seed: 1, communicator: world) {
            Loss.crossEntropy(qat($0), $1)
          }
        }
        _ = try saved(qat, "\(tag)-qat.safetensors")
        table.add(["QAT", recipe.title, variant.ranges, pct(try accuracy(qat)), ref.map { pct($0.qat) } ?? "-", secs(tQAT)])

        // QAT + KD: restore the PTQ checkpoint, add the FP32 teacher with kd_loss.
        let kdStudent = MLP([64, 256, 256, 10], seed: 78)
        try restore(kdStudent, from: ptqURL, registry: registry)
        let kd = try KDConfig(teacher: freshFP32(), criterion: LogitsKLCriterion(temperature: 1), balancer: StaticBalancer(kdWeight: 0.5))
        guard let dm = try convert(kdStudent, modes: [.kdLoss(kd)], registry: registry) as? DistillationModel else {
          throw RegistryError.checkpoint("kd_loss did not produce a DistillationModel")
        }
        let (_, tKD) = try timed {
          try Training.fit(dm, data: train, epochs: qatEpochs, batchSize: 64, optimizer: optimizer(for: dm), seed: 1, communicator: world) {
            try dm.computeKDLoss(studentLoss: Loss.crossEntropy(dm($0), $1))
          }
        }
        let kdURL = try saved(dm, "\(tag)-qat-kd.safetensors")
        let accKD = try accuracy(dm)
        table.add(["QAT+KD", recipe.title, variant.ranges, pct(accKD), ref.map { pct($0.qatKD) } ?? "-", secs(tKD)])

        // The saved student restores onto a plain model without the teacher, bit for bit.
        let check = MLP([64, 256, 256, 10], seed: 5)
        try restore(check, from: kdURL, registry: registry)
        let x = test.all.inputs
        let same = Tensor.withoutGrad { check.eval(); dm.eval(); return check(x).scalars == dm(x).scalars }
        guard same else { throw RegistryError.checkpoint("restored \(kdURL.lastPathComponent) differs from the trained model") }
        verified += 1
      }
    }
    print("")
    print(table.render())
    print("")
    print("checkpoints in \(out.path)/ (\(verified) QAT+KD checkpoints restored onto fresh models with bit-identical outputs)")
    print("inspect one with: swift run -c release qatkit-run inspect \(out.path)/w2a4-static-max-qat-kd.safetensors")
  }

  /// Writes `model` to `name` under `out` on rank 0 (atomically) and returns where this rank
  /// reads it back (see ``Communicator/sharedFile(_:)``).
  private func saved(_ model: Module, _ name: String) throws -> URL {
    let url = out.appendingPathComponent(name)
    try world.onRoot { try save(model, to: url, registry: registry) }
    return try world.sharedFile(url)
  }

  /// Adam 1e-4 on weights (the reference QAT recipe); learned ranges get 1e-2.
  private func optimizer(for model: Module) -> any Optimizer {
    let ranges = Set(model.namedParameters().filter { $0.0.contains("_quantizer.") }.map { ObjectIdentifier($0.1) })
    let weights = model.parameters().filter { !ranges.contains(ObjectIdentifier($0)) }
    let learned = model.parameters().filter { ranges.contains(ObjectIdentifier($0)) }
    if learned.isEmpty { return Adam(weights, learningRate: 1e-4) }
    return OptimizerGroup([Adam(weights, learningRate: 1e-4), Adam(learned, learningRate: 1e-2)])
  }
}
