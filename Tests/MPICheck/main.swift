// qatkit-mpi-check: the data-parallel checks that need real MPI ranks. Run it under
// `mpirun -np 2` (see .ci/mpi-tests.sh); it prints one line per check and a closing
// "N passed, N failed" line on rank 0, and exits non-zero when a check fails on any rank.
//
//   qatkit-mpi-check            the checks
//   qatkit-mpi-check fail-throw rank 1 throws during training: every rank must end, non-zero
//   qatkit-mpi-check fail-hang  rank 1 hangs: rank 0 must time out (QATKIT_COLLECTIVE_TIMEOUT)
//   qatkit-mpi-check fail-kill  rank 1 is killed (SIGKILL): every rank must end

import Foundation
import QATDistributed
import QATKit
import QATPlugins
import QATRegistry

#if canImport(Glibc)
import Glibc
#endif

let scenario = CommandLine.arguments.dropFirst().first ?? "check"
let world: MPICommunicator
do {
  world = try MPICommunicator.world()
} catch {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(2)
}
MPILaunch.installTerminationNotice(rank: world.rank, size: world.size)

/// Prints on rank 0.
func say(_ line: String) { if world.isRoot { print(line) } }

/// Ends the job from this rank with the error.
func fail(_ error: any Error) -> Never {
  FileHandle.standardError.write(Data("rank \(world.rank) of \(world.size): error: \(error)\n".utf8))
  world.abort(code: 1)
}

struct Failure: Error, CustomStringConvertible {
  let description: String
}

nonisolated(unsafe) var passed = 0
nonisolated(unsafe) var failed = 0

/// Records one check; every rank evaluates it, rank 0 prints it.
func check(_ name: String, _ ok: Bool, _ detail: String) {
  if ok { passed += 1 } else { failed += 1 }
  say("\(ok ? "ok  " : "FAIL") \(name): \(detail)")
}

let registry = InTreePlugins.registry
let (train, _) = try Digits.load()
let single = SingleProcessCommunicator()

/// Every `_amax` of `model`, by name.
func ranges(_ model: Module) -> [(String, [Float])] {
  model.stateDict().filter { $0.0.hasSuffix("_amax") }.map { ($0.0, $0.1.scalars) }
}

/// A quantized copy of a seeded MLP, calibrated by one process over all rows or by every rank
/// over its shards.
func calibrated(_ config: QuantizeConfig, distributed: Bool) throws -> Module {
  let model = MLP([64, 64, 10], seed: 3)
  let comm: any Communicator = distributed ? world : single
  let batches = train.shardedBatches(size: 256, communicator: comm)
  return try convert(
    model, modes: [.quantize(config)], registry: registry,
    forwardLoop: { m in for b in batches { _ = m(b.inputs) } }, communicator: comm)
}

/// Unit roundoff of Float32 and the summation bound γ_n = n·u / (1 − n·u).
let u = Double(Float.ulpOfOne) / 2
func gamma(_ n: Int) -> Double { Double(n) * u / (1 - Double(n) * u) }

func runChecks() throws {
  say("qatkit-mpi-check: \(world.size) ranks, \(world.libraryDescription)")

  // 1. Calibration: every rank observes its shard; the ranges equal one process's bit for bit.
  for calibrator in ["max", "percentile", "mse", "entropy"] {
    let config = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(4, calibrator: calibrator))
    let a = ranges(try calibrated(config, distributed: false))
    let b = ranges(try calibrated(config, distributed: true))
    let same = a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1.map(\.bitPattern) == $1.1.map(\.bitPattern) }
    check(
      "calibration \(calibrator)", same && !a.isEmpty,
      "\(a.count) ranges after data-parallel calibration \(same ? "bit-identical to" : "DIFFER from") one process over all 1437 rows")
  }

  // The check above can fail: shards calibrated without combining give other ranges.
  let config = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(4))
  let local = MLP([64, 64, 10], seed: 3)
  let mine = train.shardedBatches(size: 256, communicator: world)
  try convert(local, modes: [.quantize(config)], registry: registry, forwardLoop: { m in for b in mine { _ = m(b.inputs) } })
  let differing = try world.allReduce(
    [Double(zip(ranges(local), ranges(try calibrated(config, distributed: false))).filter { $0.0.1 != $0.1.1 }.count)], .max)[0]
  check(
    "calibration control", differing > 0,
    "without combining, some rank's shard-only ranges differ from one process's (\(Int(differing)) of 4)")

  // 2. K training steps, 2 ranks vs one process: equal within the reduction-order bound.
  try trainingWithinBound(steps: 3)

  // 3. The fused all-reduce is exactly "sum of row-weighted shard gradients, then divide":
  //    QAT + LSQ learned ranges + distillation, Adam, compared bit for bit with one process
  //    that computes each rank's shard gradient itself and combines them in rank order.
  //    Then the checkpoint of that model: rank 0 writes, every rank restores.
  try fusedStepsExact(steps: 4)

  let totals = try world.allReduce([Double(passed), Double(failed)], .max)
  say("\(Int(totals[0])) passed, \(Int(totals[1])) failed")
  if totals[1] > 0 { world.abort(code: 1) }
}

/// A QAT model (INT8 weights per channel, INT8 activations, max-calibrated, frozen ranges).
func qatModel() throws -> Module {
  let m = MLP([64, 32, 10], seed: 11)
  return try convert(
    m, modes: [.quantize(.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(8)))], registry: registry,
    forwardLoop: { m in for b in try train.batches(size: 256) { _ = m(b.inputs) } })
}


/// After `steps` SGD steps (global batch 64 = 2 × 32), every parameter element differs from
/// the one-process run by at most
///
///     tol = 2 · η · Σ_k (γ_{N-1} + γ_{N/2} + u) · S_k,   S_k = Σ_i |g_{k,i}| / N
///
/// where g_{k,i} is row i's gradient at step k (per-row backward passes, one process): one
/// process sums the N row terms of each weight/bias gradient in one order (error ≤ γ_{N-1}·S),
/// each rank sums its N/2 (≤ γ_{N/2-1}·S), the two partial sums add with one rounding (≤ u·S);
/// the row-count scalings (×32, ÷64) are exact. SGD moves the difference by η per step; the
/// factor 2 covers what the first-order bound leaves out (earlier steps' differences moving
/// later gradients, per-row values rounded differently by differently blocked GEMMs).
func trainingWithinBound(steps: Int) throws {
  let lr: Float = 0.05
  let n = 64
  let data = train.prefix(n * steps)
  let reference = try qatModel()
  let distributed = try qatModel()
  let refParams = reference.trainableParameters()
  let initial = refParams.map(\.scalars)
  var tolerance = refParams.map { [Double](repeating: 0, count: $0.count) }
  let constant = gamma(n - 1) + gamma(n / 2) + u
  // One process, the batches fit takes (seed 0 for epoch 0), accumulating the bound.
  let optimizer = SGD(refParams, learningRate: lr)
  reference.train()
  for rows in data.batchIndices(size: n, seed: 0) {
    for i in rows {
      optimizer.zeroGrad()
      let b = data.batch([i])
      Loss.crossEntropy(reference(b.inputs), b.labels).backward()
      for (t, p) in refParams.enumerated() {
        guard let g = p.grad else { continue }
        let gs = g.scalars
        for j in 0..<gs.count { tolerance[t][j] += 2 * Double(lr) * constant * Double(Swift.abs(gs[j])) / Double(n) }
      }
    }
    optimizer.zeroGrad()
    let b = data.batch(rows)
    Loss.crossEntropy(reference(b.inputs), b.labels).backward()
    optimizer.step()
  }
  try Training.fit(
    distributed, data: data, epochs: 1, batchSize: n, optimizer: SGD(distributed.trainableParameters(), learningRate: lr),
    communicator: world
  ) { x, y in Loss.crossEntropy(distributed(x), y) }
  var worst = 0.0, worstRatio = 0.0, moved = 0.0, tolMax = 0.0
  for (t, (a, b)) in zip(refParams, distributed.trainableParameters()).enumerated() {
    for j in 0..<a.count {
      let d = Double(Swift.abs(a.scalars[j] - b.scalars[j]))
      worst = Swift.max(worst, d)
      tolMax = Swift.max(tolMax, tolerance[t][j])
      if d > 0 { worstRatio = Swift.max(worstRatio, tolerance[t][j] > 0 ? d / tolerance[t][j] : .infinity) }
      moved = Swift.max(moved, Double(Swift.abs(a.scalars[j] - initial[t][j])))
    }
  }
  check(
    "\(steps) SGD steps, QAT INT8", worstRatio <= 1,
    String(
      format: "max |w_2ranks - w_1process| = %.3g, within the reduction-order bound everywhere (largest difference/bound "
        + "%.2f; bound up to %.3g, weights moved up to %.3g)", worst, worstRatio, tolMax, moved))
}

/// QAT (W4 per channel, A4 LSQ learned ranges) with distillation from an FP32 teacher, Adam,
/// one epoch over 200 rows (batches 64, 64, 64, 8): the ranks' weights equal bit for bit those
/// of one process that computes each rank's shard gradient itself, weights it by the shard's
/// rows, adds the ranks' buffers in rank order and divides by the batch's rows (what the
/// 2-rank all-reduce computes: one addition, commutative).
func fusedStepsExact(steps: Int) throws {
  func make() throws -> DistillationModel {
    var act = QuantizerAttributes.int(4, calibrator: "mse")
    act.algorithm = "lsq"
    let student = MLP([64, 32, 10], seed: 12)
    _ = try convert(
      student, modes: [.quantize(.weightsAndActivations(weights: .int(4, axis: 0), activations: act))], registry: registry,
      forwardLoop: { m in for b in try train.batches(size: 256) { _ = m(b.inputs) } })
    let teacher = MLP([64, 32, 10], seed: 13)
    let kd = try KDConfig(teacher: teacher, criterion: LogitsKLCriterion(temperature: 2), balancer: StaticBalancer(kdWeight: 0.5))
    guard let dm = try convert(student, modes: [.kdLoss(kd)], registry: registry) as? DistillationModel else {
      throw Failure(description: "kd_loss did not give a DistillationModel")
    }
    return dm
  }
  let data = train.prefix(200)
  let reference = try make(), distributed = try make()
  let learned = reference.namedParameters().filter { $0.0.contains("_quantizer.") }.count
  // The reference: shards computed here, combined as the all-reduce does.
  let params = reference.trainableParameters()
  let optimizer = Adam(params, learningRate: 1e-3)
  let fused = FusedGradients(params, extras: 1)
  reference.train()
  for rows in data.batchIndices(size: 64, seed: 7) {
    var sum: [Float] = []
    for r in 0..<2 {
      optimizer.zeroGrad()
      let part = SingleProcessCommunicator.shard(of: rows.count, rank: r, size: 2)
      let b = data.batch(rows[(rows.startIndex + part.lowerBound)..<(rows.startIndex + part.upperBound)])
      let l = try reference.computeKDLoss(studentLoss: Loss.crossEntropy(reference(b.inputs), b.labels))
      l.backward()
      fused.pack(scale: Float(b.labels.count), extras: [l.item * Float(b.labels.count)])
      sum = sum.isEmpty ? fused.buffer : zip(sum, fused.buffer).map { $0 + $1 }
    }
    fused.buffer = sum
    fused.unpack(divisor: Float(rows.count))
    optimizer.step()
  }
  try Training.fit(
    distributed, data: data, epochs: 1, batchSize: 64, optimizer: Adam(distributed.trainableParameters(), learningRate: 1e-3),
    seed: 7, communicator: world
  ) { x, y in try distributed.computeKDLoss(studentLoss: Loss.crossEntropy(distributed(x), y)) }
  let a = reference.trainableParameters().flatMap(\.scalars).map(\.bitPattern)
  let b = distributed.trainableParameters().flatMap(\.scalars).map(\.bitPattern)
  check(
    "fused all-reduce, QAT + LSQ + KD", world.size != 2 || a == b,
    world.size != 2
      ? "skipped: the exact reference models 2 ranks"
      : "\(a.count) parameters (\(learned) learned LSQ ranges) bit-identical to the shard-by-shard reference after \(steps) Adam steps")
  // 4. Checkpoints: rank 0 writes, every rank restores; outputs identical everywhere.
  let path = try world.broadcast(
    Array(FileManager.default.temporaryDirectory.appendingPathComponent("qatkit-mpi-check-\(getpid()).safetensors").path.utf8))
  let url = URL(fileURLWithPath: String(decoding: path, as: UTF8.self))
  try world.onRoot { try save(distributed, to: url, registry: registry) }
  let restored = MLP([64, 32, 10], seed: 99)
  try restore(restored, from: try world.sharedFile(url), registry: registry)
  let x = train.prefix(50).all.inputs
  let (outRestored, outTrained) = Tensor.withoutGrad {
    restored.eval()
    distributed.eval()
    return (restored(x), distributed(x))
  }
  var agree = true
  do { try Training.checkReplicasAgree([outRestored], communicator: world) } catch { agree = false }
  try world.onRoot { try FileManager.default.removeItem(at: url) }
  check(
    "checkpoint", agree && outRestored.scalars == outTrained.scalars,
    "rank 0 wrote it, every rank restored it: outputs equal the trained model's and agree bit for bit across ranks")
}

/// Trains with a failure injected on rank 1 at its third step.
func failureScenario() throws {
  let model = MLP([64, 64, 10], seed: 1)
  var calls = 0
  try Training.fit(model, data: train, epochs: 5, batchSize: 64, optimizer: Adam(model.parameters(), learningRate: 1e-3), communicator: world) {
    x, y in
    calls += 1
    if world.rank == 1, calls == 3 {
      switch scenario {
      case "fail-throw": throw Failure(description: "injected failure on rank 1 at step 3")
      case "fail-hang": while true { sleep(60) }
      default: kill(getpid(), SIGKILL)
      }
    }
    return Loss.crossEntropy(model(x), y)
  }
  throw Failure(description: "training finished although rank 1 failed")
}

switch scenario {
case "check":
  do { try runChecks() } catch { fail(error) }
case "fail-throw", "fail-hang", "fail-kill":
  do { try failureScenario() } catch { fail(error) }
default:
  fail(Failure(description: "unknown scenario '\(scenario)'"))
}
world.finalize()
