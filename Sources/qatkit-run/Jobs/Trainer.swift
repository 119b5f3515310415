import Foundation
import QATKit

/// Optimizer, batch size, epochs and schedule of one training stage.
struct TrainingSettings: Equatable {
  var epochs: Int
  var batchSize: Int
  var learningRate: Float
  /// Learning rate of learned quantizer ranges (LSQ, PACT).
  var rangeLearningRate: Float = 1e-2
  /// `adam`, `adamw` or `sgd`.
  var optimizer: String = "adam"
  var weightDecay: Float = 0
  var momentum: Float = 0.9
  var schedule: LRSchedule = .constant
  var seed: UInt64 = 0

  /// `100 epochs, batch 12, Adam 1e-3`.
  var summary: String {
    let name = ["adam": "Adam", "adamw": "AdamW", "sgd": "SGD"][optimizer] ?? optimizer
    var s = "\(epochs) epoch\(epochs == 1 ? "" : "s"), batch \(batchSize), \(name) \(shortNumber(learningRate))"
    if weightDecay > 0 { s += ", weight decay \(shortNumber(weightDecay))" }
    switch schedule {
    case .constant: break
    case .cosine: s += ", cosine schedule"
    case .step: s += ", step schedule"
    case .warmup(let n, let then): s += ", \(n) warm-up steps" + (then == .constant ? "" : " then decay")
    }
    return s
  }

  /// The optimizer for `model`'s trainable tensors: layer weights at ``learningRate``,
  /// learned quantizer ranges (`…_quantizer.…`) at ``rangeLearningRate``.
  func makeOptimizer(for model: Module) -> any Optimizer {
    let named = model.namedParameters().filter { $0.1.requiresGrad }
    let ranges = named.filter { $0.0.contains("_quantizer.") }.map(\.1)
    let weights = named.filter { !$0.0.contains("_quantizer.") }.map(\.1)
    func make(_ params: [Tensor], _ lr: Float) -> any Optimizer {
      switch optimizer {
      case "sgd": return SGD(params, learningRate: lr, momentum: momentum, weightDecay: weightDecay)
      case "adamw": return AdamW(params, learningRate: lr, weightDecay: weightDecay)
      default: return Adam(params, learningRate: lr, weightDecay: weightDecay)
      }
    }
    if ranges.isEmpty { return make(weights, learningRate) }
    return OptimizerGroup([make(weights, learningRate), make(ranges, rangeLearningRate)])
  }
}

/// A number in its shortest form: `1e-3`, `0.5`, `10`.
func shortNumber(_ x: Float) -> String {
  if x != 0, abs(x) < 0.01 || abs(x) >= 1e5 {
    // Three significant digits, e.g. 1e-4 (not 9.99999975e-05), 2.5e-3.
    let text = String(format: "%.2e", Double(x))
    guard let ePart = text.firstIndex(of: "e") else { return text }
    var mantissa = String(text[..<ePart])
    if mantissa.contains(".") {
      while mantissa.hasSuffix("0") { mantissa.removeLast() }
      if mantissa.hasSuffix(".") { mantissa.removeLast() }
    }
    let exponent = Int(text[text.index(after: ePart)...]) ?? 0
    return "\(mantissa)e\(exponent)"
  }
  return String(format: "%g", Double(x))
}

/// Runs one training stage with progress, per-epoch curves and Ctrl-C checks.
enum Trainer {
  /// Trains `model` on `data.train` with `settings`, the loss given by `loss`; returns the
  /// per-epoch mean loss and test accuracy.
  ///
  /// Data-parallel over `world` when it has several ranks: every rank computes `loss` on its
  /// shard of each global batch, the gradients are all-reduced in one buffer per step, and the
  /// test accuracy of every epoch is counted over the ranks' shards of the test rows
  /// (`Training.fit(communicator:)`); every rank returns the same curve.
  static func train(
    _ model: Module, data: PreparedData, settings: TrainingSettings, stage: String,
    optimizer: (any Optimizer)? = nil, world: any Communicator = DistributedSession.world,
    loss: (Tensor, [Int]) throws -> Tensor
  ) throws -> [EpochPoint] {
    let optimizer = optimizer ?? settings.makeOptimizer(for: model)
    let steps = (data.train.count + settings.batchSize - 1) / settings.batchSize
    let progress = ProgressReporter(stage: stage, epochs: settings.epochs, stepsPerEpoch: steps)
    defer { progress.finish() }
    var curve: [EpochPoint] = []
    var step = 0
    var epoch = 0
    // The per-epoch evaluation is collective and may fail; the next step (or the end) rethrows.
    var evaluationError: (any Error)? = nil
    try Interrupt.check()
    try Training.fit(
      model, data: data.train, epochs: settings.epochs, batchSize: settings.batchSize, optimizer: optimizer,
      seed: settings.seed, schedule: settings.schedule, communicator: world,
      loss: { x, y in
        try Interrupt.check()
        if let evaluationError { throw evaluationError }
        let l = try loss(x, y)
        progress.step(epoch: epoch, step: step % steps, loss: l.item)
        step += 1
        return l
      },
      epochEnd: { e, meanLoss in
        guard evaluationError == nil else { return }
        do {
          let acc = try Training.accuracy(model, on: data.test, communicator: world)
          curve.append(EpochPoint(epoch: e + 1, loss: meanLoss, accuracy: acc))
          progress.epochEnd(epoch: e, loss: meanLoss, accuracy: acc)
        } catch {
          evaluationError = error
        }
        epoch = e + 1
      })
    if let evaluationError { throw evaluationError }
    try Interrupt.check()
    return curve
  }
}
