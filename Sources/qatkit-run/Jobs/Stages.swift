import Foundation
import QATKit
import QATRegistry

/// The building blocks of every command: PTQ, QAT and QAT+KD on prepared data.
///
/// Each runs data-parallel over `world` when it has several ranks (an MPI job, see
/// ``DistributedSession``): every rank calls it with the same arguments on a replica of the same
/// model, calibration and training take each rank's shard of every batch and combine
/// statistics and gradients across the ranks, and every rank ends with the same model.
enum Stages {
  /// Calibration: the training rows in batches of 256 (this rank's shard of each in an MPI
  /// job), stopping on Ctrl-C.
  static func calibrationLoop(_ data: PreparedData, world: any Communicator = DistributedSession.world) -> (Module) throws -> Void {
    let batches = data.train.shardedBatches(size: 256, communicator: world)
    return { m in
      for b in batches {
        try Interrupt.check()
        _ = m(b.inputs)
      }
    }
  }

  /// Inserts and calibrates quantizers (PTQ); returns the seconds taken. With several ranks
  /// the activation statistics of every rank combine, so the ranges equal one process's.
  @discardableResult
  static func quantize(
    _ model: Module, config: QuantizeConfig, data: PreparedData, world: any Communicator = DistributedSession.world
  ) throws -> Double {
    try Interrupt.check()
    let (_, t) = try timed {
      try convert(
        model, modes: [.quantize(config)], registry: Checkpoints.registry, forwardLoop: calibrationLoop(data, world: world),
        communicator: world)
    }
    try Interrupt.check()
    return t
  }

  /// Fine-tunes a (quantized) model with cross-entropy.
  static func train(
    _ model: Module, data: PreparedData, settings: TrainingSettings, stage: String, world: any Communicator = DistributedSession.world
  ) throws -> ([EpochPoint], Double) {
    try timed {
      try Trainer.train(model, data: data, settings: settings, stage: stage, world: world) { x, y in Loss.crossEntropy(model(x), y) }
    }
  }

  /// QAT with distillation from `teacher`; returns the distillation model (its student is the
  /// trained model), the curve and the seconds taken. With several ranks the teacher runs on
  /// each rank's shard.
  static func distill(
    _ student: Module, teacher: Module, data: PreparedData, settings: TrainingSettings, kd: (Module) throws -> KDConfig,
    stage: String, world: any Communicator = DistributedSession.world
  ) throws -> (DistillationModel, [EpochPoint], Double) {
    guard let dm = try convert(student, modes: [.kdLoss(kd(teacher))], registry: Checkpoints.registry) as? DistillationModel else {
      throw CLIError.failure("kd_loss did not produce a distillation model")
    }
    let (curve, t) = try timed {
      try Trainer.train(dm, data: data, settings: settings, stage: stage, world: world) { x, y in
        try dm.computeKDLoss(studentLoss: Loss.crossEntropy(dm(x), y))
      }
    }
    return (dm, curve, t)
  }

  /// Test accuracy of `model`, each rank evaluating its shard of the test rows.
  static func accuracy(_ model: Module, on data: Dataset, world: any Communicator = DistributedSession.world) throws -> Float {
    try Training.accuracy(model, on: data, communicator: world)
  }

  /// The predicted class (argmax) of every row of `data`, in order. Each rank predicts its
  /// shard of the rows; the shards are combined with one all-reduce (each rank contributes its
  /// rows' classes and zeros elsewhere, summed exactly), so every rank gets every prediction.
  static func predictions(_ model: Module, on data: Dataset, world: any Communicator = DistributedSession.world) throws -> [Int] {
    let mine = world.shard(of: data.count)
    let wasTraining = model.training
    model.eval()
    defer { model.train(wasTraining) }
    var local: [Int] = []
    Tensor.withoutGrad {
      for start in stride(from: mine.lowerBound, to: mine.upperBound, by: 512) {
        local += model(data.batch(start..<min(start + 512, mine.upperBound)).inputs).argmax(axis: -1)
      }
    }
    guard world.size > 1 else { return local }
    var all = [Double](repeating: 0, count: data.count)
    for (i, p) in local.enumerated() { all[mine.lowerBound + i] = Double(p) }
    return try world.allReduce(all, .sum).map { Int($0) }
  }

  /// Whether `model` has a quantizer with learned ranges.
  static func hasLearnedRanges(_ model: Module) -> Bool {
    model.namedQuantizers().contains { $0.1.attributes.algorithm != "static" }
  }
}
