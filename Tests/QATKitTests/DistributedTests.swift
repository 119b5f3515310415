import Foundation
import QATPluginTesting
import QATTestSupport
import Testing

@testable import QATKit

/// The single-process logic of data-parallel training and calibration, with ranks as threads
/// (``LocalRanks``); the checks with real MPI ranks are `qatkit-mpi-check` (.ci/mpi-tests.sh).
@Suite("DistributedTests")
struct DistributedTests {
  @Test("shards are contiguous, disjoint, in rank order, sizes within one, and cover every row")
  func shardsPartition() {
    for count in [0, 1, 5, 64, 157] {
      for size in 1...5 {
        let parts = (0..<size).map { SingleProcessCommunicator.shard(of: count, rank: $0, size: size) }
        #expect(parts.first?.lowerBound == 0 && parts.last?.upperBound == count)
        for (a, b) in zip(parts, parts.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        let sizes = parts.map(\.count)
        #expect(sizes.max()! - sizes.min()! <= 1 && sizes == sizes.sorted(by: >), "\(count) rows over \(size): \(sizes)")
      }
    }
  }

  @Test("the ranks' shards of every global batch put together are the single-process batches, in order")
  func shardedBatchesRebuildTheBatches() throws {
    let data = try Digits.load().train.prefix(150)
    let whole = try data.batches(size: 64, seed: 9)
    for size in [1, 2, 3] {
      let perRank = (0..<size).map { data.shardedBatches(size: 64, seed: 9, communicator: FixedRank($0, of: size)) }
      #expect(perRank.allSatisfy { $0.count == whole.count })
      for (i, b) in whole.enumerated() {
        #expect(perRank.allSatisfy { $0[i].globalCount == b.labels.count })
        #expect(perRank.flatMap { $0[i].labels } == b.labels)
        #expect(perRank.flatMap { $0[i].inputs.scalars } == b.inputs.scalars)
      }
    }
  }

  @Test("fused gradients: pack writes gradient × scale, flags and extras; unpack divides back and keeps nil gradients nil")
  func fusedBufferRoundTrip() throws {
    let a = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], requiresGrad: true)
    let b = Tensor([7, 8], requiresGrad: true)
    let c = Tensor([9], requiresGrad: true)
    a.grad = try Tensor([0.5, -1, 1.5, -2, 2.5, -3], shape: [2, 3])
    c.grad = Tensor([-0.25])
    let fused = FusedGradients([a, b, c], extras: 2)
    #expect(fused.offsets == [0, 6, 8] && fused.gradientCount == 9 && fused.buffer.count == 9 + 3 + 2)
    fused.pack(scale: 4, extras: [10, 20])
    #expect(fused.buffer == [2, -4, 6, -8, 10, -12, 0, 0, -1, 1, 0, 1, 10, 20])
    a.grad = nil
    c.grad = nil
    let extras = fused.unpack(divisor: 4)
    #expect(extras == [2.5, 5])
    #expect(a.grad?.scalars == [0.5, -1, 1.5, -2, 2.5, -3] && a.grad?.shape == [2, 3])
    #expect(b.grad == nil)
    #expect(c.grad?.scalars == [-0.25])
    // Summed over two ranks (the all-reduce), flags add: a gradient present on either rank is kept.
    fused.pack(scale: 1, extras: [0, 0])
    fused.buffer = zip(fused.buffer, fused.buffer).map { $0 + $1 }
    fused.unpack(divisor: 2)
    #expect(a.grad?.scalars == [0.5, -1, 1.5, -2, 2.5, -3] && b.grad == nil)
  }

  /// Batches whose scale grows and whose first values are zero for some groups, so histograms
  /// start late and merge bins at different times on different ranks.
  private func calibrationBatches() -> [CalibrationBatch] {
    var rng = RandomGenerator(seed: 5)
    return (0..<6).map { k in
      let groups = 3, size = 40
      var values = [Float](repeating: 0, count: groups * size)
      for g in 0..<groups where !(k == 0 && g == 1) {
        let scale = Float(1 << k) * (g == 2 ? 1e-3 : 1)
        for i in 0..<size { values[g * size + i] = (rng.nextUniform() * 2 - 1) * scale }
      }
      if k == 3 { values[5] = .nan }
      return CalibrationBatch(groupCount: groups, groupSize: size, values: values)
    }
  }

  /// Rank `rank` of `size`'s contiguous share of `batch`'s values in every group.
  private func shard(_ batch: CalibrationBatch, rank: Int, size: Int) -> CalibrationBatch {
    let part = SingleProcessCommunicator.shard(of: batch.groupSize, rank: rank, size: size)
    var values: [Float] = []
    for g in 0..<batch.groupCount { values += batch.values[(g * batch.groupSize + part.lowerBound)..<(g * batch.groupSize + part.upperBound)] }
    return CalibrationBatch(groupCount: batch.groupCount, groupSize: part.count, values: values)
  }

  @Test("every calibrator's ranges from 3 ranks' shards equal one process's bit for bit, skipped counts summed",
        arguments: ["max", "percentile", "mse", "entropy"])
  func calibrationMatchesOneProcess(_ name: String) throws {
    let target = try TensorQuantizer(attributes: .int(4)).calibrationTarget
    let make: @Sendable () throws -> any DistributedCalibrator = {
      switch name {
      case "max": MaxCalibrator()
      case "percentile": try PercentileCalibrator(options: { var o = PercentileCalibrator.Options(); o.percentile = 99; o.bins = 64; return o }())
      case "mse": try MSECalibrator(options: { var o = MSECalibrator.Options(); o.bins = 64; return o }())
      default: try EntropyCalibrator(options: { var o = EntropyCalibrator.Options(); o.bins = 256; o.startBin = 32; return o }())
      }
    }
    let batches = calibrationBatches()
    let one = try make()
    for b in batches { one.collect(b) }
    let expected = try #require(try one.computeAmax(for: target))
    let skipped = one.nonFiniteCount
    let shardsOf = { @Sendable (r: Int) in batches.map { self.shard($0, rank: r, size: 3) } }
    let results = LocalRanks.run(3) { comm -> [UInt32] in
      let c = try make()
      c.reset()
      c.beginDistributed(comm)
      for b in shardsOf(comm.rank) { c.collect(b) }
      try c.reduce(over: comm)
      #expect(c.nonFiniteCount == skipped)
      return try c.computeAmax(for: try TensorQuantizer(attributes: .int(4)).calibrationTarget)!.map(\.bitPattern)
    }
    for r in results { #expect(try r.get() == expected.map(\.bitPattern), "\(name)") }
    // Without combining, shard-only ranges differ (the test above can fail).
    let lone = try make()
    for b in shardsOf(0) { lone.collect(b) }
    #expect(try lone.computeAmax(for: target)!.map(\.bitPattern) != expected.map(\.bitPattern))
  }

  @Test("a histogram calibrator reduced without beginDistributed refuses instead of merging unaligned bins")
  func histogramNeedsAgreedWidths() {
    let results = LocalRanks.run(2) { comm -> Void in
      let c = try MSECalibrator()
      c.collect(CalibrationBatch(groupCount: 1, groupSize: 2, values: [Float(comm.rank + 1), -0.5]))
      try c.reduce(over: comm)
    }
    for r in results {
      #expect { try r.get() } throws: { "\($0)".contains("without beginDistributed") }
    }
  }

  @Test("data-parallel fit over 2 ranks: replicas identical, weights equal one process's up to reduction order, same loss curve")
  func fitMatchesOneProcess() throws {
    let data = try Digits.load().train.prefix(200)
    @Sendable func train(_ comm: any Communicator) throws -> ([Float], [Float]) {
      let model = MLP([64, 16, 10], seed: 4)
      var losses: [Float] = []
      try Training.fit(
        model, data: data, epochs: 2, batchSize: 64, optimizer: Adam(model.trainableParameters(), learningRate: 1e-2),
        seed: 3, clipNorm: 5, communicator: comm, loss: { Loss.crossEntropy(model($0), $1) }, epochEnd: { losses.append($1) })
      return (model.trainableParameters().flatMap(\.scalars), losses)
    }
    let (reference, referenceLosses) = try train(SingleProcessCommunicator())
    let ranks = LocalRanks.run(2) { comm in try train(comm) }
    let (w0, l0) = try ranks[0].get()
    let (w1, l1) = try ranks[1].get()
    #expect(w0.map(\.bitPattern) == w1.map(\.bitPattern) && l0 == l1)
    // 8 Adam steps: rounding-level gradient differences move each weight by far less than a step (lr 1e-2).
    let worst = zip(w0, reference).map { Swift.abs($0 - $1) }.max()!
    #expect(worst < 1e-4, "largest weight difference \(worst)")
    #expect(zip(l0, referenceLosses).allSatisfy { Swift.abs($0 - $1) <= 1e-5 * Swift.abs($1) }, "\(l0) vs \(referenceLosses)")
    #expect(w0 != MLP([64, 16, 10], seed: 4).trainableParameters().flatMap(\.scalars))
  }

  @Test("data-parallel accuracy sums every rank's correct rows: equals one process")
  func accuracyMatches() throws {
    let (train, test) = try Digits.load()
    let model = MLP([64, 16, 10], seed: 2)
    try Training.fit(model, data: train.prefix(256), epochs: 1, batchSize: 64, optimizer: Adam(model.parameters(), learningRate: 1e-2)) {
      Loss.crossEntropy(model($0), $1)
    }
    let expected = try Training.accuracy(model, on: test)
    let snapshot = model.stateDict().map { ($0.0, $0.1.scalars, $0.1.shape) }
    let got = LocalRanks.run(3) { comm -> Float in
      let m = MLP([64, 16, 10], seed: 0)
      try m.loadStateDict(Dictionary(uniqueKeysWithValues: try snapshot.map { ($0.0, try Tensor($0.1, shape: $0.2)) }))
      return try Training.accuracy(m, on: test, batchSize: 50, communicator: comm)
    }
    for r in got { #expect(try r.get() == expected) }
  }

  @Test("fit broadcasts rank 0's parameters first: replicas built with different seeds train identically")
  func fitStartsFromRankZero() throws {
    let data = try Digits.load().train.prefix(64)
    let results = LocalRanks.run(2) { comm -> [UInt32] in
      let model = MLP([64, 8, 10], seed: UInt64(comm.rank))
      try Training.fit(model, data: data, epochs: 1, batchSize: 64, optimizer: SGD(model.parameters(), learningRate: 0.1), communicator: comm) {
        Loss.crossEntropy(model($0), $1)
      }
      return model.parameters().flatMap(\.scalars).map(\.bitPattern)
    }
    #expect(try results[0].get() == results[1].get())
  }

  @Test("replicas that differ are reported, not silently trained on")
  func divergedReplicasThrow() {
    let results = LocalRanks.run(2) { comm in
      try Training.checkReplicasAgree([Tensor([1, 2, Float(comm.rank)])], communicator: comm)
    }
    for r in results {
      #expect(throws: CommunicatorError.self) { try r.get() }
    }
  }

  @Test("work on rank 0 that fails makes every rank throw, with rank 0's message")
  func rootFailurePropagates() {
    struct Boom: Error, CustomStringConvertible { var description: String { "disk full" } }
    let results = LocalRanks.run(3) { comm in try comm.onRoot { throw Boom() } }
    #expect(throws: Boom.self) { try results[0].get() }
    for r in results.dropFirst() {
      #expect(throws: CommunicatorError.rootFailed("disk full")) { try r.get() }
    }
  }

  @Test("a rank that never joins a collective makes the others time out with an error naming the operation")
  func missingRankTimesOut() {
    let results = LocalRanks.run(2, timeout: 0.2) { comm -> Void in
      if comm.rank == 0 { try comm.barrier() }
    }
    #expect(throws: CommunicatorError.timeout(operation: "all-reduce", rank: 0, size: 2, seconds: 0.2)) { try results[0].get() }
    let message = "\(CommunicatorError.timeout(operation: "all-reduce", rank: 0, size: 2, seconds: 0.2))"
    #expect(message.contains("another of the 2 ranks failed") && message.contains("QATKIT_COLLECTIVE_TIMEOUT"))
  }

  @Test("shared checkpoint files: ranks that see rank 0's file use it, a rank with a stale file gets a private copy")
  func sharedFile() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qatkit-shared-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let root = dir.appendingPathComponent("model.safetensors")
    let stale = dir.appendingPathComponent("stale.safetensors")
    try Data([1, 2, 3, 4]).write(to: root)
    try Data([9, 9]).write(to: stale)
    let results = LocalRanks.run(3) { comm -> URL in
      try comm.sharedFile(comm.rank == 2 ? stale : root)   // rank 2 "sees" an old file
    }
    #expect(try results[0].get() == root && results[1].get() == root)
    let copy = try results[2].get()
    #expect(copy != stale && copy != root)
    #expect(try Data(contentsOf: copy) == Data([1, 2, 3, 4]))
    try? FileManager.default.removeItem(at: copy.deletingLastPathComponent())
  }

  @Test("data-parallel quantize refuses a calibrator that cannot combine statistics, naming it")
  func unsupportedCalibrator() throws {
    final class Plain: Calibrator {
      var nonFiniteCount: Int { 0 }
      func collect(_ batch: CalibrationBatch) {}
      func computeAmax(for target: CalibrationTarget) throws -> [Float]? { [1] }
      func reset() {}
    }
    let results = LocalRanks.run(2) { comm -> Void in
      var env = QuantizationEnvironment.builtin
      env.calibrators["plain"] = { _ in Plain() }
      var context = ModeContext(forwardLoop: { m in _ = m(Tensor.zeros([2, 64])) })
      context[QuantizationEnvironmentKey.self] = env
      context[CommunicatorKey.self] = comm
      let config = QuantizeConfig.weightsAndActivations(weights: .int(8), activations: .int(8, calibrator: "plain"))
      _ = try QuantizeMode.convert(MLP([64, 8, 10]), config: config, context: context)
    }
    for r in results {
      #expect { try r.get() } throws: { "\($0)".contains("calibrator 'plain' cannot combine statistics across 2 processes") }
    }
  }

  @Test("thread count: QATKIT_THREADS wins, else cores divided among the MPI ranks on this node")
  func threadCount() {
    #expect(Parallel.threadCount(environment: [:], processors: 8) == 8)
    #expect(Parallel.threadCount(environment: ["QATKIT_THREADS": "3"], processors: 8) == 3)
    #expect(Parallel.threadCount(environment: ["QATKIT_THREADS": "64"], processors: 8) == 8)
    #expect(Parallel.threadCount(environment: ["QATKIT_THREADS": "0"], processors: 8) == 8)
    #expect(Parallel.threadCount(environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "2"], processors: 2) == 1)
    #expect(Parallel.threadCount(environment: ["MPI_LOCALNRANKS": "3"], processors: 8) == 2)
    #expect(Parallel.threadCount(environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "4", "QATKIT_THREADS": "2"], processors: 8) == 2)
  }
}
