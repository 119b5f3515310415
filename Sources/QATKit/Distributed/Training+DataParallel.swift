/// Data-parallel training and evaluation over the ranks of a ``Communicator``.
extension Training {
  /// Runs `epochs` passes of seeded mini-batch training, data-parallel across the ranks of
  /// `communicator`; with one rank it is exactly ``fit(_:data:epochs:batchSize:optimizer:seed:schedule:clipNorm:loss:epochEnd:)``.
  ///
  /// Every rank must call it with the same arguments and a replica of the same model. Then:
  /// - parameters are first broadcast from rank 0, so every replica starts identical;
  /// - every step takes the same global batch as one process would (same seeded order), and
  ///   each rank computes `loss` and its gradient on its own contiguous shard of that batch
  ///   (``Dataset/shardedBatches(size:seed:communicator:)``);
  /// - the gradients of all trainable parameters (weights and learned quantizer ranges such as
  ///   LSQ's and PACT's) are packed into one fused buffer, each multiplied by the shard's row
  ///   count, summed across ranks with one all-reduce, and divided by the global batch's row
  ///   count: the gradient of the mean loss over the whole batch, as one process computes it
  ///   up to the order of the additions;
  /// - gradient clipping then sees the global gradient, and every rank applies the same
  ///   optimizer step, so the replicas stay identical (checked at the end: a checksum of the
  ///   parameters must agree on every rank).
  ///
  /// `loss` must be a **mean over the rows** of the batch it is given (every built-in loss and
  /// distillation criterion is) so that weighting by row counts gives the global mean. A
  /// distillation model's teacher runs on each rank's shard. Layers that look across rows
  /// (dynamic per-batch quantization ranges) see the shard, as in PyTorch DDP. `epochEnd` gets
  /// the mean global-batch loss on every rank.
  ///
  /// The data is checked first as the one-process `fit` checks it (batch size, epochs, the first
  /// batch through ``Module/checkedForward(_:)``, every label against the model's classes); every
  /// rank checks the same rows, so all ranks stop together. The per-step forward check of the
  /// one-process loop is not made here (a rank stopping alone would leave the others waiting in
  /// the all-reduce).
  ///
  /// - Throws: ``DataError`` and the errors of ``Module/checkedForward(_:)`` for data that does
  ///   not fit the model; ``CommunicatorError`` when a collective fails or times out (a rank
  ///   failed), or the replicas diverged; errors of `loss`.
  public static func fit(
    _ model: Module, data: Dataset, epochs: Int, batchSize: Int, optimizer: any Optimizer,
    seed: UInt64 = 0, schedule: LRSchedule = .constant, clipNorm: Float? = nil, labelsAreClasses: Bool = true,
    communicator: any Communicator,
    loss: (Tensor, [Int]) throws -> Tensor, epochEnd: (Int, Float) throws -> Void = { _, _ in }
  ) throws {
    guard communicator.size > 1 else {
      try fit(
        model, data: data, epochs: epochs, batchSize: batchSize, optimizer: optimizer, seed: seed,
        schedule: schedule, clipNorm: clipNorm, labelsAreClasses: labelsAreClasses, loss: loss, epochEnd: epochEnd)
      return
    }
    guard epochs >= 0 else { throw DataError.invalidEpochCount(epochs) }
    guard batchSize > 0 else { throw DataError.invalidBatchSize(batchSize) }
    try validate(model, data: data, batchSize: batchSize, labelsAreClasses: labelsAreClasses)
    model.train()
    let params = model.trainableParameters()
    try broadcastParameters(params, from: 0, communicator: communicator)
    let base = optimizer.learningRate
    let fused = FusedGradients(params, extras: 1)
    var step = 0
    for epoch in 0..<epochs {
      var total: Float = 0
      let batches = data.shardedBatches(size: batchSize, seed: seed &+ UInt64(epoch), communicator: communicator)
      for b in batches {
        optimizer.learningRate = schedule.rate(at: step, base: base)
        optimizer.zeroGrad()
        let rows = b.labels.count
        var weightedLoss: Float = 0
        if rows > 0 {
          let l = try loss(b.inputs, b.labels)
          l.backward()
          weightedLoss = l.item * Float(rows)
        }
        fused.pack(scale: Float(rows), extras: [weightedLoss])
        try fused.buffer.withUnsafeMutableBufferPointer { try communicator.allReduce($0, .sum) }
        let globalLoss = fused.unpack(divisor: Float(b.globalCount))[0]
        if let clipNorm { clipGradNorm(params, maxNorm: clipNorm) }
        optimizer.step()
        total += globalLoss
        step += 1
      }
      try epochEnd(epoch, total / Float(Swift.max(batches.count, 1)))
    }
    optimizer.learningRate = base
    try checkReplicasAgree(params, communicator: communicator)
  }

  /// Fraction of rows whose argmax prediction equals the label, each rank evaluating its shard
  /// of `data` and the counts summed across ranks; with one rank it is
  /// ``accuracy(_:on:batchSize:)``. Every rank gets the same value.
  ///
  /// Checked first, identically on every rank: the batch size, the first batch through
  /// ``Module/checkedForward(_:)`` and every label against the model's classes.
  ///
  /// - Throws: ``DataError`` and the errors of ``Module/checkedForward(_:)`` as
  ///   ``accuracy(_:on:batchSize:)``; ``CommunicatorError`` when the reduction fails.
  public static func accuracy(
    _ model: Module, on data: Dataset, batchSize: Int = 512, communicator: any Communicator
  ) throws -> Float {
    guard communicator.size > 1 else { return try accuracy(model, on: data, batchSize: batchSize) }
    guard batchSize > 0 else { throw DataError.invalidBatchSize(batchSize) }
    try validate(model, data: data, batchSize: batchSize)
    let mine = communicator.shard(of: data.count)
    var correct = 0
    if !mine.isEmpty {
      let wasTraining = model.training
      model.eval()
      defer { model.train(wasTraining) }
      Tensor.withoutGrad {
        for start in stride(from: mine.lowerBound, to: mine.upperBound, by: batchSize) {
          let b = data.batch(start..<Swift.min(start + batchSize, mine.upperBound))
          correct += zip(model(b.inputs).argmax(axis: -1), b.labels).filter { $0 == $1 }.count
        }
      }
    }
    let total = try communicator.allReduce([Double(correct)], .sum)[0]
    return Float(total) / Float(Swift.max(data.count, 1))
  }

  /// Copies the values of `parameters` on rank `root` to every rank (one broadcast).
  ///
  /// - Throws: ``CommunicatorError`` when the broadcast fails.
  public static func broadcastParameters(_ parameters: [Tensor], from root: Int = 0, communicator: any Communicator) throws {
    guard communicator.size > 1 else { return }
    var flat: [Float] = []
    flat.reserveCapacity(parameters.reduce(0) { $0 + $1.count })
    for p in parameters { flat.append(contentsOf: p.storage) }
    try flat.withUnsafeMutableBytes { try communicator.broadcast($0, root: root) }
    var offset = 0
    for p in parameters {
      p.storage = Array(flat[offset..<(offset + p.count)])  // exactly p.count values
      offset += p.count
    }
  }

  /// Checks that `parameters` hold bit-identical values on every rank (a 64-bit checksum of
  /// their bit patterns, compared with one all-reduce).
  ///
  /// - Throws: ``CommunicatorError/replicasDiverged(_:)`` naming this rank's checksum.
  public static func checkReplicasAgree(_ parameters: [Tensor], communicator: any Communicator) throws {
    guard communicator.size > 1 else { return }
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for p in parameters {
      p.storage.withUnsafeBufferPointer { b in
        for v in b { hash = (hash ^ UInt64(v.bitPattern)) &* 0x0000_0100_0000_01b3 }
      }
    }
    // Two 32-bit halves are exact in a Double; max(x) == -max(-x) on every rank iff all agree.
    let hi = Double(hash >> 32), lo = Double(hash & 0xffff_ffff)
    let r = try communicator.allReduce([hi, lo, -hi, -lo], .max)
    guard r[0] == -r[2], r[1] == -r[3] else {
      throw CommunicatorError.replicasDiverged(
        "rank \(communicator.rank)'s parameters (checksum \(String(hash, radix: 16))) differ from another rank's after "
          + "training; the ranks did not apply identical updates (different models, optimizers or arguments per rank?)")
    }
  }
}
