import Foundation
import QATKit

// qatkit-bench: QATKit's kernel and training benchmarks, keyed like
// ../shared/bench/torch_reference.py so that Benchmarks/compare.sh can print ratios.
//
//   swift run -c release qatkit-bench [--json] [--filter SUBSTRING[,SUBSTRING...]]
//                                      [--repeat-scale F] [--list] [--mlp-checkpoint FILE] [--minilm-checkpoint FILE]

struct Options {
  var json = false
  var filters: [String] = []
  var scale = 1.0
  var list = false
  /// A quantized MLP checkpoint: adds the `ckpt_mlp_forward_*` items (Benchmarks/onnx-compare.sh).
  var mlpCheckpoint: URL?
  /// A quantized MiniLM checkpoint: adds the `ckpt_minilm_forward_*` items (Benchmarks/onnx-compare-minilm.sh).
  var minilmCheckpoint: URL?
}

func parseOptions(_ args: [String]) -> Options {
  var o = Options()
  var i = 0
  func usage(_ msg: String) -> Never {
    FileHandle.standardError.write(Data((msg + "\nusage: qatkit-bench [--json] [--filter S[,S...]] [--repeat-scale F] [--list] [--mlp-checkpoint FILE] [--minilm-checkpoint FILE]\n").utf8))
    exit(2)
  }
  while i < args.count {
    switch args[i] {
    case "--json": o.json = true
    case "--list": o.list = true
    case "--filter":
      i += 1
      guard i < args.count else { usage("--filter needs a value") }
      o.filters += args[i].split(separator: ",").map(String.init)
    case "--repeat-scale":
      i += 1
      guard i < args.count, let v = Double(args[i]), v > 0 else { usage("--repeat-scale needs a positive number") }
      o.scale = v
    case "--mlp-checkpoint":
      i += 1
      guard i < args.count, FileManager.default.fileExists(atPath: args[i]) else {
        usage("--mlp-checkpoint needs an existing quantized MLP checkpoint file")
      }
      o.mlpCheckpoint = URL(fileURLWithPath: args[i])
    case "--minilm-checkpoint":
      i += 1
      guard i < args.count, FileManager.default.fileExists(atPath: args[i]) else {
        usage("--minilm-checkpoint needs an existing quantized MiniLM checkpoint file (qatkit-run minilm)")
      }
      o.minilmCheckpoint = URL(fileURLWithPath: args[i])
    case "-h", "--help": usage("")
    default: usage("unknown argument \(args[i])")
    }
    i += 1
  }
  return o
}

/// A named benchmark item; `run` produces one or more results.
struct Item {
  let key: String
  let run: () -> [BenchResult]
}

let options = parseOptions(Array(CommandLine.arguments.dropFirst()))
let scale = options.scale
let data = try Digits.load()
var checks: [String: Any] = [:]

var results: [BenchResult] = []

var items: [Item] = [Item(key: "memory_copy_512mib") { [MemoryBench.run(scale: scale)] }]
for n in [1024, 256] {
  for (ta, tb) in [(false, false), (false, true), (true, false)] {
    let suffix = ta || tb ? "_" + (ta ? "t" : "n") + (tb ? "t" : "n") : ""
    items.append(Item(key: "matmul_f32_\(n)\(suffix)") {
      [GEMMBench.run(n: n, transposeA: ta, transposeB: tb, scale: scale)]
    })
  }
}
items += FakeQuantBench.items(scale: scale)
items += FakeQuantCachedBench.items(scale: scale)
items += GroupLayoutBench.items(scale: scale)
for b in [64, 1024] {
  items.append(Item(key: "mlp_train_step_fp32_b\(b)") {
    [TrainingBench.trainStep(batch: b, train: data.train, scale: scale)]
  })
}
items += QuantizedTrainingBench.items(train: data.train, scale: scale)
items += CNNBench.items(scale: scale, gemmRate: { SGEMMRate.value(scale: scale) })
items += ConvOpBench.items(scale: scale)
items += InferenceBench.items(data: data, scale: scale)
if let file = options.mlpCheckpoint {
  items += CheckpointInferenceBench.items(checkpoint: file, test: data.test, scale: scale) { c in
    for (k, v) in c { checks[k] = v }
  }
}
if let file = options.minilmCheckpoint {
  items += CheckpointBertInferenceBench.items(checkpoint: file, scale: scale) { c in
    for (k, v) in c { checks[k] = v }
  }
}
items += BertBench.items(scale: scale, gemmRate: { SGEMMRate.value(scale: scale) })
items += CalibrationAlgorithmBench.items(scale: scale)
items.append(Item(key: "epoch_fp32_b64") { [TrainingBench.epoch(train: data.train, scale: scale)] })
items.append(Item(key: "fp32_train_30_epochs") {
  let (r, acc) = TrainingBench.fullTraining(train: data.train, test: data.test)
  checks["fp32_test_acc"] = Double(acc)
  return [r]
})

if options.list {
  for item in items { print(item.key) }
  exit(0)
}
let selected = items.filter { item in options.filters.isEmpty || options.filters.contains { item.key.contains($0) } }
let started = Clock.wall()
for item in selected {
  if !options.json { FileHandle.standardError.write(Data("running \(item.key)…\n".utf8)) }
  results += item.run()
  SGEMMRate.record(results)
}

// Streaming kernels are reported as a fraction of a memcpy timed alternately with them (see
// FakeQuantBench); the 512 MiB probe stays as the machine's headline copy rate.

if options.json {
  var env: [String: Any] = [
    "cpu_count": ProcessInfo.processInfo.activeProcessorCount,
    "system": ProcessInfo.processInfo.operatingSystemVersionString,
    "threads": Parallel.cores,
  ]
  #if arch(x86_64)
    env["machine"] = "x86_64"
  #elseif arch(arm64)
    env["machine"] = "arm64"
  #endif
  var load: [Double] = [0, 0, 0]
  let loadOK = getloadavg(&load, 3) == 3
  let out: [String: Any] = [
    "schema": "qatkit.bench/1",
    "env": env,
    "settings": ["repeat_scale": scale, "filters": options.filters],
    "results": Dictionary(uniqueKeysWithValues: results.map { ($0.key, $0.json) }),
    "checks": checks,
    "loadavg_end": loadOK ? load as Any : NSNull(),
    "total_wall_s": Clock.wall() - started,
  ]
  let bytes = try JSONSerialization.data(withJSONObject: out, options: [.prettyPrinted, .sortedKeys])
  FileHandle.standardOutput.write(bytes)
  FileHandle.standardOutput.write(Data("\n".utf8))
} else {
  func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
    s.count >= w ? s : (right ? String(repeating: " ", count: w - s.count) + s : s + String(repeating: " ", count: w - s.count))
  }
  print(pad("key", 40) + pad("value", 11, right: true) + " " + pad("unit", 8) + pad("median ms", 11, right: true)
    + pad("runs", 6, right: true) + pad("cpu", 6, right: true) + "  note")
  for r in results {
    guard let v = r.value else {
      print(pad(r.key, 40) + pad("—", 11, right: true) + " " + pad(r.unit, 8) + "  " + (r.error ?? ""))
      continue
    }
    var note = ""
    if let f = r.extra["fraction_of_memory_copy"] { note = String(format: "%.0f%% of copy", f * 100) }
    if let f = r.extra["fraction_of_avx2_peak"] { note = String(format: "%.0f%% of AVX2 peak", f * 100) }
    if let g = r.extra["gflop_per_s"], let f = r.extra["fraction_of_sgemm"] {
      note = String(format: "%.0f GFLOP/s, %.2f of SGEMM", g, f)
    }
    print(pad(r.key, 40) + pad(String(format: "%.3f", v), 11, right: true) + " " + pad(r.unit, 8)
      + pad(String(format: "%.3f", r.medianS * 1e3), 11, right: true) + pad("\(r.runs)", 6, right: true)
      + pad(String(format: "%.2f", r.cpuUtil), 6, right: true) + "  " + note)
  }
  for (k, v) in checks.sorted(by: { $0.key < $1.key }) { print("check \(k): \(v)") }
}
