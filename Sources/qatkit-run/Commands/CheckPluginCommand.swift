import Foundation
import QATKit
import QATPlugins
import QATRegistry

/// `qatkit-run --plugin libX.so check-plugin`: uses plugin quantizers by name, as a recipe
/// does, on the bundled digits model, and checks that their checkpoints round-trip.
struct CheckPluginCommand: Command {
  static let name = "check-plugin"
  static let abstract = "quantize the bundled digits MLP with plugin algorithms by name and round-trip the checkpoints"
  static let usage = ["--plugin LIB check-plugin [--config QUANT.json] [--algorithm NAME]... [--out DIR]"]
  static let discussion = """
    For each quantizer algorithm the --plugin libraries registered (or each --algorithm NAME), converts
    the FP32 digits MLP 64-256-256-10 (PyTorch's weights, bundled) with the quantize mode by name from
    JSON: 4-bit per-channel weights and 8-bit inputs using that algorithm, or the quantize config in
    --config (JSON: {"quantCfg": [{"quantizerName": "*weight_quantizer", "cfg": {...}}]}), calibrates on
    the training rows and prints the test accuracy. Then saves the checkpoint, restores it onto a fresh
    model (outputs must be bit-identical, else exit 1) and restores it without the plugin libraries
    (which must fail naming the plugin).
    """
  static let options: [OptionSpec] = [
    .option("--config", "FILE", "a quantize config (JSON) to convert with instead of the default one"),
    .option("--algorithm", "NAME", "a quantizer algorithm to check (default: every one the --plugin libraries add)", repeatable: true),
    .option("--out", "DIR", "where checkpoints are written (default: a temporary directory)"),
  ]

  let configFile: URL?
  let algorithms: [String]
  let out: URL

  init(_ arguments: ParsedArguments) throws {
    configFile = arguments.url("--config")
    algorithms = arguments.strings("--algorithm")
    out = arguments.url("--out")
      ?? FileManager.default.temporaryDirectory.appendingPathComponent("qatkit-check-plugin-\(ProcessInfo.processInfo.processIdentifier)")
  }

  func run() throws {
    let registry = ToolRegistry.registry
    var jobs: [(label: String, json: JSONValue)] = []
    if let configFile {
      guard let text = try? String(contentsOf: configFile, encoding: .utf8) else {
        throw CLIError.input("cannot read the config file \(configFile.path)")
      }
      jobs.append((configFile.lastPathComponent, try JSONValue(parsing: text)))
    } else {
      let loaded = Set(ToolRegistry.loadedPluginNames)
      let names = algorithms.isEmpty ? registry.entries(.quantizer).filter { loaded.contains($0.plugin) }.map(\.name) : algorithms
      guard !names.isEmpty else {
        throw CLIError.usage(
          "no plugin quantizer to check: load a plugin library with --plugin PATH (it must register a quantizer), "
            + "or name one with --algorithm NAME ('qatkit-run list' shows them)")
      }
      for name in names {
        _ = try registry.lookup(.quantizer, name, as: QuantizerFactory.self)
        jobs.append((name, .object(["quantCfg": .array([
          .object(["quantizerName": .string("*weight_quantizer"), "cfg": .object(["format": .string("int4"), "axis": .number(0), "algorithm": .string(name)])]),
          .object(["quantizerName": .string("*input_quantizer"), "cfg": .object(["format": .string("int8"), "algorithm": .string(name)])]),
        ])])))
      }
    }
    guard let weights = Bundle.module.url(forResource: "mlp_digits_fp32", withExtension: "safetensors") else {
      throw CLIError.failure("mlp_digits_fp32.safetensors is missing from the qatkit-run bundle")
    }
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let (train, test) = try Digits.load()
    func fp32() throws -> MLP {
      let m = MLP([64, 256, 256, 10])
      try m.loadSafeTensors(from: weights)
      return m
    }
    let fp32Accuracy = try Training.accuracy(try fp32(), on: test)
    print("FP32 test accuracy: \(pct(fp32Accuracy)) (PyTorch's weights, bundled)")
    var table = Table(header: ["config", "plugins", "PTQ test acc", "restore", "restore without --plugin libraries"])
    var mismatch = false
    for job in jobs {
      let model = try fp32()
      try convert(model, modes: [.named("quantize", job.json)], registry: registry) { m in
        for b in try train.batches(size: 256) { _ = m(b.inputs) }
      }
      let plugins = Set(model.namedQuantizers().compactMap { registry.entry(.quantizer, $0.1.attributes.algorithm)?.plugin })
      let url = out.appendingPathComponent("check-\(job.label.replacingOccurrences(of: "/", with: "_")).safetensors")
      try save(model, to: url, registry: registry)
      let restored = try restore(MLP([64, 256, 256, 10], seed: 99), from: url, registry: registry)
      model.eval()
      restored.eval()
      let x = test.all.inputs
      let same = Tensor.withoutGrad { model(x).scalars == restored(x).scalars }
      mismatch = mismatch || !same
      var without = "not needed (no plugin quantizer)"
      do { try restore(MLP([64, 256, 256, 10]), from: url, registry: InTreePlugins.registry) } catch {
        without = "refused: " + "\(error)".prefix(90) + "…"
      }
      let accuracy = try Training.accuracy(model, on: test)
      table.add([job.label, plugins.sorted().joined(separator: ", "), pct(accuracy),
                 same ? "bit-identical" : "DIFFERS", without])
    }
    print(table.render())
    print("checkpoints in \(out.path)")
    if mismatch { throw CLIError.failure("a restored checkpoint does not reproduce its model's outputs") }
  }
}
