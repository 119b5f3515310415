/// Training and evaluation loops shared by the command line, examples and tests.
public enum Training {
  /// Fraction of rows whose argmax prediction equals the label (evaluation mode, no grad).
  public static func accuracy(_ model: Module, on data: Dataset, batchSize: Int = 512) -> Float {
    let wasTraining = model.training
    model.eval()
    defer { model.train(wasTraining) }
    var correct = 0
    Tensor.withoutGrad {
      for b in data.batches(size: batchSize) {
        let pred = model(b.inputs).argmax(axis: -1)
        correct += zip(pred, b.labels).filter { $0 == $1 }.count
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
  ///   - epochEnd: Called after each epoch with its index and mean loss.
  public static func fit(
    _ model: Module, data: Dataset, epochs: Int, batchSize: Int, optimizer: any Optimizer,
    seed: UInt64 = 0, schedule: LRSchedule = .constant, clipNorm: Float? = nil,
    loss: (Tensor, [Int]) throws -> Tensor, epochEnd: (Int, Float) -> Void = { _, _ in }
  ) rethrows {
    model.train()
    let base = optimizer.learningRate
    let params = model.trainableParameters()
    var step = 0
    for epoch in 0..<epochs {
      var total: Float = 0
      let batches = data.batches(size: batchSize, seed: seed &+ UInt64(epoch))
      for b in batches {
        optimizer.learningRate = schedule.rate(at: step, base: base)
        optimizer.zeroGrad()
        let l = try loss(b.inputs, b.labels)
        l.backward()
        if let clipNorm { clipGradNorm(params, maxNorm: clipNorm) }
        optimizer.step()
        total += l.item
        step += 1
      }
      epochEnd(epoch, total / Float(Swift.max(batches.count, 1)))
    }
    optimizer.learningRate = base
  }
}
