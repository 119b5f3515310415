import Foundation
import QATKit
import QATRegistry

/// The building blocks of every command: PTQ, QAT and QAT+KD on prepared data.
enum Stages {
  /// Calibration: the training rows in batches of 256, stopping on Ctrl-C.
  static func calibrationLoop(_ data: PreparedData) -> (Module) throws -> Void {
    return { m in
      for b in try data.train.batches(size: 256) {
        try Interrupt.check()
        _ = m(b.inputs)
      }
    }
  }

  /// Inserts and calibrates quantizers (PTQ); returns the seconds taken.
  @discardableResult
  static func quantize(_ model: Module, config: QuantizeConfig, data: PreparedData) throws -> Double {
    try Interrupt.check()
    let (_, t) = try timed {
      try convert(model, modes: [.quantize(config)], registry: Checkpoints.registry, forwardLoop: calibrationLoop(data))
    }
    try Interrupt.check()
    return t
  }

  /// Fine-tunes a (quantized) model with cross-entropy.
  static func train(_ model: Module, data: PreparedData, settings: TrainingSettings, stage: String) throws -> ([EpochPoint], Double) {
    try timed {
      try Trainer.train(model, data: data, settings: settings, stage: stage) { x, y in Loss.crossEntropy(model(x), y) }
    }
  }

  /// QAT with distillation from `teacher`; returns the distillation model (its student is the
  /// trained model), the curve and the seconds taken.
  static func distill(
    _ student: Module, teacher: Module, data: PreparedData, settings: TrainingSettings, kd: (Module) throws -> KDConfig,
    stage: String
  ) throws -> (DistillationModel, [EpochPoint], Double) {
    guard let dm = try convert(student, modes: [.kdLoss(kd(teacher))], registry: Checkpoints.registry) as? DistillationModel else {
      throw CLIError.failure("kd_loss did not produce a distillation model")
    }
    let (curve, t) = try timed {
      try Trainer.train(dm, data: data, settings: settings, stage: stage) { x, y in
        try dm.computeKDLoss(studentLoss: Loss.crossEntropy(dm(x), y))
      }
    }
    return (dm, curve, t)
  }

  /// Whether `model` has a quantizer with learned ranges.
  static func hasLearnedRanges(_ model: Module) -> Bool {
    model.namedQuantizers().contains { $0.1.attributes.algorithm != "static" }
  }
}
