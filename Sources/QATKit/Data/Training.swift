/// Training and evaluation loops shared by the command line, examples and tests.
///
/// Data meeting a model is user input: both loops check it before they use it and throw
/// instead of trapping. Before anything runs they check the batch size (and epochs), run one
/// batch through ``Module/checkedForward(_:)`` (which catches a wrong feature count and any
/// quantizer that cannot take the batch) and check every label against the model's classes
/// (the width of its `[rows, classes]` output). `fit` runs each step's loss in a checked
/// forward pass too, so a later batch that a quantizer cannot take stops training with an error
/// before the optimizer steps on it.
public enum Training {
  /// Fraction of rows whose argmax prediction equals the label (evaluation mode, no grad).
  ///
  /// - Throws: ``DataError/invalidBatchSize(_:)``; ``DataError/labelOutOfRange(row:label:classes:)``
  ///   for a negative label or one the model's `[rows, classes]` output has no class for;
  ///   ``DataError/shape(_:)`` when the output is not `[rows, classes]`; the errors of
  ///   ``Module/checkedForward(_:)`` (for example ``ModuleError/incompatibleInput(path:shape:_:)``
  ///   for a wrong feature count).
  public static func accuracy(_ model: Module, on data: Dataset, batchSize: Int = 512) throws -> Float {
    let batches = try data.batches(size: batchSize)
    let wasTraining = model.training
    model.eval()
    defer { model.train(wasTraining) }
    var correct = 0
    var row = 0
    try Tensor.withoutGrad {
      for b in batches {
        let out = try model.checkedForward(b.inputs)
        let classes = try Self.classCount(of: out, rows: b.labels.count)
        try Self.checkLabels(b.labels, classes: classes, firstRow: row)
        let pred = out.argmax(axis: -1)
        correct += zip(pred, b.labels).filter { $0 == $1 }.count
        row += b.labels.count
      }
    }
    return Float(correct) / Float(Swift.max(data.count, 1))
  }

  /// Runs `epochs` passes of seeded mini-batch training.
  ///
  /// - Parameters:
  ///   - model: Put in training mode for the run.
  ///   - loss: Computes the scalar loss of one batch (called with gradients recorded).
  ///   - schedule: Learning-rate schedule over steps, applied to `optimizer.learningRate`'s
  ///     initial value.
  ///   - epochEnd: Called after each epoch with its index and mean loss; an error it throws
  ///     stops training.
  ///   - labelsAreClasses: Whether `loss` reads the labels as classes of the model's
  ///     `[rows, classes]` output (so each is checked to be in `0..<classes`). Pass `false` for a
  ///     loss that ignores the labels or reads them otherwise (label-free distillation).
  /// - Throws: ``DataError`` for a batch size below 1, negative epochs or (with
  ///   `labelsAreClasses`) a label outside the model's classes (checked on every row before the first step; the model and optimizer are
  ///   untouched then); the errors of ``Module/checkedForward(_:)`` for a batch the model cannot
  ///   take (a wrong feature count before the first step, a quantizer that cannot take a later
  ///   batch before that batch's step); and whatever `loss` throws.
  public static func fit(
    _ model: Module, data: Dataset, epochs: Int, batchSize: Int, optimizer: any Optimizer,
    seed: UInt64 = 0, schedule: LRSchedule = .constant, clipNorm: Float? = nil, labelsAreClasses: Bool = true,
    loss: (Tensor, [Int]) throws -> Tensor, epochEnd: (Int, Float) throws -> Void = { _, _ in }
  ) throws {
    guard epochs >= 0 else { throw DataError.invalidEpochCount(epochs) }
    guard batchSize > 0 else { throw DataError.invalidBatchSize(batchSize) }
    try validate(model, data: data, batchSize: batchSize, labelsAreClasses: labelsAreClasses)
    model.train()
    let base = optimizer.learningRate
    defer { optimizer.learningRate = base }
    let params = model.trainableParameters()
    var step = 0
    for epoch in 0..<epochs {
      var total: Float = 0
      let batches = try data.batches(size: batchSize, seed: seed &+ UInt64(epoch))
      for b in batches {
        optimizer.learningRate = schedule.rate(at: step, base: base)
        optimizer.zeroGrad()
        let check = ForwardCheck()
        let l = try check.run { try loss(b.inputs, b.labels) }
        if let error = check.firstError(in: model) { throw error }
        l.backward()
        if let clipNorm { clipGradNorm(params, maxNorm: clipNorm) }
        optimizer.step()
        total += l.item
        step += 1
      }
      try epochEnd(epoch, total / Float(Swift.max(batches.count, 1)))
    }
  }

  /// Runs the first batch through a checked forward pass (evaluation mode, no gradients) and,
  /// when the model's output is `[rows, classes]` and `labelsAreClasses`, checks every label
  /// against `classes`.
  static func validate(_ model: Module, data: Dataset, batchSize: Int, labelsAreClasses: Bool = true) throws {
    guard data.count > 0 else { return }
    let probe = data.batch(0..<Swift.min(batchSize, data.count))
    let wasTraining = model.training
    model.eval()
    defer { model.train(wasTraining) }
    let out = try Tensor.withoutGrad { try model.checkedForward(probe.inputs) }
    guard labelsAreClasses else { return }
    if out.rank == 2, out.shape[0] == probe.labels.count {
      try checkLabels(data.labels, classes: out.shape[1], firstRow: 0)
    } else if let row = data.labels.firstIndex(where: { $0 < 0 }) {
      throw DataError.labelOutOfRange(row: row, label: data.labels[row], classes: out.shape.last ?? 0)
    }
  }

  /// The class count of a `[rows, classes]` output.
  private static func classCount(of out: Tensor, rows: Int) throws -> Int {
    guard out.rank == 2, out.shape[0] == rows else {
      throw DataError.shape("accuracy needs [rows, classes] outputs, the model gave \(out.shape) for \(rows) rows")
    }
    return out.shape[1]
  }

  static func checkLabels(_ labels: [Int], classes: Int, firstRow: Int) throws {
    if let i = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
      throw DataError.labelOutOfRange(row: firstRow + i, label: labels[i], classes: classes)
    }
  }
}
