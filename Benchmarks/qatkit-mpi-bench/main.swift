// qatkit-mpi-bench: where the time of a data-parallel training step goes, per rank.
//
//   QATKIT_THREADS=1 qatkit-mpi-bench                     one process, one thread
//   mpirun -np 2 qatkit-mpi-bench                         2 ranks (one thread each on 2 cores)
//   ... qatkit-mpi-bench --steps 30 --models mlp,cnn,encoder --allreduce
//
// For each model it runs data-parallel steps exactly as Training.fit does (shard of the global
// batch → forward, loss, backward → pack the fused buffer → one all-reduce → unpack → Adam step)
// and prints the median time of each phase on rank 0, the slowest rank's median step, and the
// bytes all-reduced per step. --allreduce also times the all-reduce alone for buffer sizes up to
// MiniLM's 22.7 M parameters.

import Foundation
import QATDistributed
import QATKit

/// A command-line option's value.
func option(_ name: String) -> String? {
  let args = CommandLine.arguments
  guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
  return args[i + 1]
}

let world: any Communicator = MPILaunch.isLaunched() ? try MPICommunicator.world() : SingleProcessCommunicator()
let steps = option("--steps").flatMap(Int.init) ?? 20
let models = (option("--models") ?? "mlp,cnn,encoder").split(separator: ",").map(String.init)

func say(_ s: String) { if world.isRoot { print(s) } }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }
func ms(_ s: Double) -> String { String(format: "%7.3f", s * 1e3) }

/// The bench CNN of the reference benchmark: conv(3→32)-ReLU-pool-conv(32→64)-ReLU-pool-fc(4096→10).
final class BenchCNN: Module {
  @Child var conv1: Conv2d
  @Child var conv2: Conv2d
  @Child var fc: Linear
  init(seed: UInt64) {
    conv1 = Conv2d(3, 32, kernel: 3, padding: 1, seed: seed)
    conv2 = Conv2d(32, 64, kernel: 3, padding: 1, seed: seed &+ 1)
    fc = Linear(4096, 10, seed: seed &+ 2)
  }
  override func forward(_ x: Tensor) -> Tensor {
    let h = conv2(conv1(x).relu().maxPool2d(kernel: 2)).relu().maxPool2d(kernel: 2)
    return fc(h.flattened(from: 1))
  }
}

struct Workload {
  let name: String
  let model: Module
  let globalBatch: Int
  /// The loss of rows `rows` of the global batch.
  let loss: (Range<Int>) -> Tensor
}

func workload(_ name: String) throws -> Workload {
  var rng = RandomGenerator(seed: 1)
  switch name {
  case "mlp":
    let (train, _) = try Digits.load()
    let model = MLP([64, 256, 256, 10], seed: 0)
    let b = train.prefix(64)
    return Workload(name: "MLP 64-256-256-10, batch 64", model: model, globalBatch: 64) { rows in
      let x = b.batch(rows)
      return Loss.crossEntropy(model(x.inputs), x.labels)
    }
  case "cnn":
    let model = BenchCNN(seed: 0)
    let x = Tensor.randn([64, 3, 32, 32], std: 1, using: &rng)
    let labels = (0..<64).map { $0 % 10 }
    return Workload(name: "bench CNN, batch 64 of 3x32x32", model: model, globalBatch: 64) { rows in
      let part = Tensor(shape: [rows.count, 3, 32, 32], storage: Array(x.scalars[(rows.lowerBound * 3072)..<(rows.upperBound * 3072)]))
      return Loss.crossEntropy(model(part), Array(labels[rows]))
    }
  case "encoder":
    let model = TransformerEncoderBlock(dim: 384, heads: 12, hidden: 1536, seed: 0)
    let x = Tensor.randn([8, 128, 384], std: 1, using: &rng)
    return Workload(name: "MiniLM-size encoder layer, batch 8 x 128 tokens", model: model, globalBatch: 8) { rows in
      let n = 128 * 384
      let part = Tensor(shape: [rows.count, 128, 384], storage: Array(x.scalars[(rows.lowerBound * n)..<(rows.upperBound * n)]))
      let y = model(part)
      return (y * y).mean()
    }
  default:
    throw CommunicatorError.unsupported("unknown model '\(name)' (mlp, cnn, encoder)")
  }
}

say("qatkit-mpi-bench: \(world.size) rank(s), \(ProcessInfo.processInfo.environment["QATKIT_THREADS"] ?? "default") threads per rank, \(steps) timed steps after 3 warm-up")
say("times in ms, medians on rank 0; 'slowest' is the largest per-rank median step")
say("model                                              params  bytes/step  compute  pack   all-red  step+unp  total   slowest")
for name in models {
  let w = try workload(name)
  let params = w.model.trainableParameters()
  try Training.broadcastParameters(params, communicator: world)
  let optimizer = Adam(params, learningRate: 1e-4)
  let fused = FusedGradients(params, extras: 1)
  let rows = world.shard(of: w.globalBatch)
  w.model.train()
  var compute: [Double] = [], pack: [Double] = [], reduce: [Double] = [], update: [Double] = [], total: [Double] = []
  for step in 0..<(steps + 3) {
    try world.barrier()
    let t0 = now()
    optimizer.zeroGrad()
    let l = w.loss(rows)
    l.backward()
    let t1 = now()
    fused.pack(scale: Float(rows.count), extras: [l.item * Float(rows.count)])
    let t2 = now()
    try fused.buffer.withUnsafeMutableBufferPointer { try world.allReduce($0, .sum) }
    let t3 = now()
    fused.unpack(divisor: Float(w.globalBatch))
    optimizer.step()
    let t4 = now()
    if step >= 3 {
      compute.append(t1 - t0); pack.append(t2 - t1); reduce.append(t3 - t2); update.append(t4 - t3); total.append(t4 - t0)
    }
  }
  let slowest = try world.allReduce([median(total)], .max)[0]
  let count = params.reduce(0) { $0 + $1.count }
  say(
    "\(w.name.padding(toLength: 48, withPad: " ", startingAt: 0))  \(String(format: "%8d", count))  \(String(format: "%10d", fused.byteCount))  "
      + "\(ms(median(compute)))  \(ms(median(pack)))  \(ms(world.size > 1 ? median(reduce) : 0))  \(ms(median(update)))  \(ms(median(total)))  \(ms(slowest))")
}

if CommandLine.arguments.contains("--allreduce"), world.size > 1 {
  say("")
  say("all-reduce alone (sum, in place), median of \(steps) after 3 warm-up:")
  say("floats      bytes        ms       GB/s (bytes / time)")
  for n in [1_024, 16_384, 85_013, 262_144, 1_048_576, 4_194_304, 22_700_000] {
    var buffer = [Float](repeating: 1, count: n)
    var times: [Double] = []
    for i in 0..<(steps + 3) {
      try world.barrier()
      let t0 = now()
      try buffer.withUnsafeMutableBufferPointer { try world.allReduce($0, .sum) }
      if i >= 3 { times.append(now() - t0) }
    }
    let t = median(times)
    say("\(String(n).padding(toLength: 10, withPad: " ", startingAt: 0))  \(String(n * 4).padding(toLength: 11, withPad: " ", startingAt: 0))  \(ms(t))  \(String(format: "%.2f", Double(n * 4) / t / 1e9))")
  }
}
(world as? MPICommunicator)?.finalize()
