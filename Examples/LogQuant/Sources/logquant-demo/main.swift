// Uses the LogQuant plugin from Swift (typed configs) and from a JSON recipe (by name), on the
// digits data bundled with QATKit, and round-trips a checkpoint.
import Foundation
import LogQuant
import QATKit
import QATRegistry

enum DemoError: Error { case failed }

func demo() throws {
  let (train, test) = try Digits.load()
  let fp32 = MLP([64, 64, 10], seed: 0)
  try Training.fit(fp32, data: train, epochs: 5, batchSize: 64, optimizer: Adam(fp32.parameters(), learningRate: 3e-3), seed: 0) {
    Loss.crossEntropy(fp32($0), $1)
  }
  print("FP32 test accuracy:", try Training.accuracy(fp32, on: test))

  var registry = Registry.builtin
  try registry.register(LogQuantPlugin.self)

  func copyOfFP32() throws -> MLP {
    let m = MLP([64, 64, 10])
    try m.loadStateDict(Dictionary(uniqueKeysWithValues: fp32.stateDict().map { ($0.0, $0.1.copy()) }))
    return m
  }
  let calibration: (Module) throws -> Void = { m in for b in try train.batches(size: 256) { _ = m(b.inputs) } }

  // From Swift: 4-bit power-of-two weights per channel, and the uniform int4 baseline.
  for algorithm in ["log2", "static"] {
    var w = QuantizerAttributes.int(4, axis: 0, calibrator: "mse")
    w.algorithm = algorithm
    let m = try copyOfFP32()
    try convert(m, modes: [.quantize(.weightsAndActivations(weights: w, activations: nil))], registry: registry, forwardLoop: calibration)
    print("W4 per-channel \(algorithm), PTQ test accuracy:", try Training.accuracy(m, on: test))
  }

  // From a JSON recipe, by name, as a tool would: recipe.json sits next to Package.swift.
  let recipe = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("recipe.json")
  let json = try JSONValue(parsing: String(contentsOf: recipe, encoding: .utf8))
  let model = try copyOfFP32()
  try convert(model, modes: [.named("quantize", json)], registry: registry, forwardLoop: calibration)
  print("recipe.json (W4 log2 weights, A8 inputs), PTQ test accuracy:", try Training.accuracy(model, on: test))

  // A checkpoint records the plugin; it restores with it and names it without it.
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("logquant-demo-\(ProcessInfo.processInfo.processIdentifier).safetensors")
  defer { try? FileManager.default.removeItem(at: url) }
  try save(model, to: url, registry: registry)
  let restored = try restore(MLP([64, 64, 10]), from: url, registry: registry)
  model.eval()
  restored.eval()
  let same = Tensor.withoutGrad { restored(test.all.inputs).scalars == model(test.all.inputs).scalars }
  print("restored with the plugin: outputs \(same ? "bit-identical" : "DIFFER")")
  do {
    try restore(MLP([64, 64, 10]), from: url, registry: .builtin)
    print("restored without the plugin: unexpectedly succeeded")
    throw DemoError.failed
  } catch {
    print("restored without the plugin: \(error)")
  }
  if !same { throw DemoError.failed }
}

do { try demo() } catch {
  print("error: \(error)")
  exit(1)
}
