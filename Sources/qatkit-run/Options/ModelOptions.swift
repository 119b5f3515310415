import Foundation
import QATKit

/// `--model ARCH.json --weights FILE.safetensors --rename FROM=TO` or an MLP sized to the data
/// (`--hidden`).
struct ModelOptions {
  static let specs: [OptionSpec] = [
    .option("--model", "ARCH.json", "architecture file: a layer list in PyTorch's names (default: an MLP sized to the data)"),
    .option("--weights", "FILE", "initial weights, e.g. a PyTorch state dict saved with safetensors (loaded strictly by name)"),
    .option("--rename", "FROM=TO", "rename weight-name prefixes while loading ('module.=' drops 'module.')", repeatable: true),
    .option("--hidden", "N,N", "hidden layer sizes of the default MLP (default: sized to the data)"),
  ]

  /// `--model` for commands that read a checkpoint.
  static let checkpointModelSpec = OptionSpec.option(
    "--model", "ARCH.json", "the architecture, when the checkpoint does not record it (e.g. a PyTorch state dict)")

  /// The architecture file, if one was given (for descriptions).
  var architectureFile: URL?
  /// The architecture given (read from the file, or inline in a recipe).
  var declared: Architecture?
  var weights: URL?
  var renaming: KeyRenaming
  var hidden: [Int]?

  init(_ a: ParsedArguments) throws {
    let file = try a.existingFile("--model")
    try self.init(
      architectureFile: file, declared: file.map { try Architecture(contentsOf: $0) }, weights: a.existingFile("--weights"),
      renaming: KeyRenaming(parsing: a.strings("--rename")), hidden: a.ints("--hidden", in: 1...65_536))
  }

  init(architectureFile: URL?, declared: Architecture?, weights: URL?, renaming: KeyRenaming, hidden: [Int]?) throws {
    self.architectureFile = architectureFile
    self.declared = declared
    self.weights = weights
    self.renaming = renaming
    self.hidden = hidden
    if declared != nil, hidden != nil {
      throw CLIError.usage("--hidden sizes the default MLP; it does not combine with --model")
    }
    if !renaming.rules.isEmpty, weights == nil {
      throw CLIError.usage("--rename applies to --weights; give the weights file")
    }
  }

  /// The architecture's own input shape (used to view data rows), if any.
  func declaredInputShape() throws -> [Int]? { declared?.inputShape }

  /// The default MLP's hidden sizes for `features` inputs and `classes` outputs: two layers
  /// of the power of two at or above 2·(features + classes), between 16 and 256.
  static func defaultHidden(features: Int, classes: Int) -> [Int] {
    var h = 16
    while h < 2 * (features + classes), h < 256 { h *= 2 }
    return [h, h]
  }

  /// The architecture for `data`: the file's, or an MLP sized to the data (or the
  /// reference MLP 64-256-256-10 on the bundled digits).
  func architecture(for data: PreparedData) throws -> Architecture {
    if var arch = declared {
      if arch.inputShape == nil { arch.inputShape = data.train.sampleShape }
      return arch
    }
    let features = data.train.featureCount
    let hidden = self.hidden ?? (data.isBundledDigits ? [256, 256] : Self.defaultHidden(features: features, classes: data.classCount))
    var arch = Architecture.mlp([features] + hidden + [data.classCount])
    if data.train.sampleShape.count > 1 {
      arch.layers.insert(.init(.flatten(startDim: 1), name: "flatten"), at: 0)
      arch.inputShape = data.train.sampleShape
    }
    return arch
  }

  /// Checks that `architecture` takes `data`'s samples and gives one score per class.
  static func check(_ architecture: Architecture, against data: PreparedData) throws {
    let out: [Int]
    do { out = try architecture.outputShape(forSample: data.train.sampleShape) } catch let e as ConfigError {
      guard data.train.sampleShape.count == 1 else { throw e }
      throw CLIError.input("\(e); the rows are flat (\(data.train.featureCount) values): give the model's input shape with --input-shape (e.g. 1,8,8) or \"input_shape\" in the architecture")
    }
    guard out.count == 1, out[0] >= data.classCount else {
      throw CLIError.input(
        "the model's output per sample is \(out), but the data has \(data.classCount) classes; the last layer needs "
          + "\(data.classCount) outputs")
    }
    if case .embedding(let vocab, _) = architecture.firstLayer {
      for d in [data.train, data.test] {
        if let bad = d.features.first(where: { $0 < 0 || $0 >= Float(vocab) || $0.rounded() != $0 }) {
          throw CLIError.input("the model starts with an Embedding of \(vocab) entries but the data holds \(bad); inputs must be integer ids in 0..<\(vocab) (use --no-standardize)")
        }
      }
    }
  }

  /// Builds the model for `data` (weights from `--weights` if given) and describes it. In an
  /// MPI job every rank builds it and checks that all ranks hold the same model (collective).
  func build(for data: PreparedData, seed: UInt64) throws -> (model: Sequential, architecture: Architecture) {
    let arch = try architecture(for: data)
    try Self.check(arch, against: data)
    let model = try arch.build(seed: seed)
    if let weights {
      do { try model.loadSafeTensors(from: weights, strict: true, renaming: renaming) } catch let e as ModuleError {
        throw CLIError.input(
          "--weights \(weights.lastPathComponent) does not fit the architecture: \(e); the architecture's names must be the "
            + "PyTorch model's state_dict() names (map prefixes with --rename FROM=TO)")
      }
    }
    try DistributedSession.checkSameModel(model, source: weights.map { "--weights \($0.lastPathComponent)" } ?? "the architecture")
    return (model, arch)
  }

  /// A short description: `MLP 4-16-16-3` or `cnn.json (6 layers)`.
  static func describe(_ arch: Architecture, file: URL?) -> String {
    if let file { return "\(file.lastPathComponent) (\(arch.layers.count) layers)" }
    if arch.layers.contains(where: { if case .linear = $0.layer { false } else if case .relu = $0.layer { false } else if case .flatten = $0.layer { false } else { true } }) {
      return "\(arch.layers.count)-layer model"
    }
    let sizes = arch.layers.compactMap { node -> [Int]? in
      if case .linear(let i, let o, _) = node.layer { return [i, o] } else { return nil }
    }
    return "MLP " + ([sizes.first?[0] ?? 0] + sizes.map { $0[1] }).map(String.init).joined(separator: "-")
  }
}
