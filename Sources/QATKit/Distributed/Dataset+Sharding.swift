extension Dataset {
  /// The row indices of each mini-batch of `size` rows, in the order ``batches(size:seed:)``
  /// yields them (the same seeded permutation); the last batch may be smaller.
  public func batchIndices(size: Int, seed: UInt64? = nil) -> [ArraySlice<Int>] {
    precondition(size > 0, "batch size must be positive")
    var order = Array(0..<count)
    if let seed {
      var rng = RandomGenerator(seed: seed)
      order = rng.permutation(count)
    }
    return stride(from: 0, to: count, by: size).map { order[$0..<Swift.min($0 + size, count)] }
  }

  /// This rank's share of every mini-batch of ``batches(size:seed:)``: the same global batches
  /// in the same order, each split into contiguous, disjoint shards across the ranks of
  /// `communicator` (see ``Communicator/shard(of:)``). A shard may be empty when a batch has
  /// fewer rows than there are ranks; `globalCount` is the whole batch's row count.
  public func shardedBatches(
    size: Int, seed: UInt64? = nil, communicator: any Communicator
  ) -> [(inputs: Tensor, labels: [Int], globalCount: Int)] {
    batchIndices(size: size, seed: seed).map { rows in
      let part = communicator.shard(of: rows.count)
      let b = batch(rows[(rows.startIndex + part.lowerBound)..<(rows.startIndex + part.upperBound)])
      return (b.inputs, b.labels, rows.count)
    }
  }
}
