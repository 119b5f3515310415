import Foundation
import QATExport
import QATKit
import QATPlugins
import QATRegistry
import QATTransformers

/// `qatkit-run export`: restores a QATKit checkpoint onto the architecture it was saved from
/// and writes it in a deployment format, self-verified: ModelOpt's unified Hugging Face
/// checkpoint (`unified`), ONNX with Q/DQ (`onnx`), or QATKit's codes-and-scales safetensors
/// (`safetensors`).
///
/// In an MPI job every rank restores the checkpoint and takes part in the `--quantize`
/// calibration (each on its shard of the calibration rows, ranges combined across ranks);
/// rank 0 alone writes and verifies the export, and the other ranks learn whether it succeeded.
struct ExportJob {
  /// The output formats.
  enum Format: String, CaseIterable {
    /// ModelOpt's unified checkpoint directory.
    case unified
    /// An ONNX file.
    case onnx
    /// One safetensors file with codes and scales (`writeQuantizedSafeTensors`).
    case safetensors
  }

  let checkpoint: URL
  let format: Format
  let output: URL
  let force: Bool
  /// `config.json` that came with the model (unified only).
  let hfConfig: URL?
  /// Write `<output without .onnx>.reference.safetensors` with QATKit's logits on the digits test set (ONNX only).
  let reference: Bool
  /// Quantize an unquantized checkpoint with this preset first (PTQ, max calibration on the
  /// digits training rows), e.g. to export the FP32 digits MLP in every format.
  var preset: QuantizePreset? = nil
  /// The architecture given with `--model` (else the one the checkpoint records, if any).
  var architecture: Architecture? = nil
  /// The Hugging Face model directory of a BERT checkpoint (`--model DIR`; else
  /// `$QATKIT_MINILM_DIR` or where `scripts/fetch-minilm.sh` puts all-MiniLM-L6-v2).
  var bertDirectory: URL? = nil

  /// The architectures a checkpoint can be rebuilt into from its recorded model type and tensor shapes.
  static let knownArchitectures = [
    "MLP (layer sizes from fc1.weight, fc2.weight, ...)", "SmallCNN",
    "BertModel (written by qatkit-run minilm; config.json from the model directory)",
  ]

  func run() throws {
    let (model, inputShape) = try prepare()
    try DistributedSession.world.onRoot { try write(model, inputShape: inputShape) }
  }

  /// The model to export, restored and, with `--quantize`, calibrated (collective in an MPI
  /// job), and the input shape its data records (nil for the digits models).
  private func prepare() throws -> (model: Module, inputShape: [Int]?) {
    // Checkpoints written by the bring-your-own commands record their architecture and data
    // preparation; others are rebuilt as the digits MLP or SmallCNN.
    let recorded = try Checkpoints.recorded(checkpoint)
    var model: Module
    var inputShape: [Int]? = nil
    if let arch = architecture ?? recorded.architecture {
      let options = try ModelOptions(architectureFile: nil, declared: arch, weights: nil, renaming: KeyRenaming(), hidden: nil)
      let empty = DataOptions(
        file: nil, labelColumn: nil, testFile: nil, testFraction: nil, seed: nil, ignored: [], inputShape: nil, standardize: true)
      let (restored, a, data) = try Checkpoints.load(checkpoint, model: options, data: empty)
      model = restored
      inputShape = [1] + data.train.sampleShape
      if let preset {
        guard model.modeHistory.isEmpty else {
          throw CLIError.usage("--quantize needs an unquantized checkpoint; this one already has modes \(model.modeHistory.map(\.name))")
        }
        let config = try QuantRecipe(
          tag: preset.name, title: preset.name, ranges: "max, frozen", config: ModelOptConfig(qatkit: QuantizeConfig(preset: preset)),
          calibrator: nil, learned: false
        ).quantizeConfig(for: model)
        try Stages.quantize(model, config: config, data: data)
        print("PTQ with preset \(preset.name): max calibration on the \(data.train.count) training rows (\(a.layers.count)-layer model)")
      }
    } else {
      model = try Self.rebuild(from: checkpoint, bertDirectory: bertDirectory)
      try DistributedSession.checkSameModel(model, source: checkpoint.lastPathComponent)
      if let preset {
        guard !(model is BertModel) else {
          throw CLIError.usage("--quantize calibrates on the digits rows; quantize a BERT with qatkit-run minilm --epochs 0 --configs \(preset.name) and export its checkpoint")
        }
        model = try Self.quantize(model, preset: preset)
      }
    }
    return (model, inputShape)
  }

  /// Writes `model` in the chosen format (rank 0 only in an MPI job).
  private func write(_ model: Module, inputShape: [Int]?) throws {
    switch format {
    case .unified:
      var options = UnifiedExportOptions(overwrite: force)
      // A BERT's config.json comes from its model directory unless --config gives another.
      let hfConfig = self.hfConfig ?? ((model as? BertModel).flatMap { _ in try? Self.bertModelDirectory(bertDirectory) }?
        .appendingPathComponent("config.json"))
      if let hfConfig {
        let text: String
        do { text = try String(contentsOf: hfConfig, encoding: .utf8) } catch {
          throw CLIError.input("cannot read --config \(hfConfig.path): \(error.localizedDescription)")
        }
        do { options.hfConfig = try JSONValue(parsing: text) } catch {
          throw CLIError.input("--config \(hfConfig.path) is not JSON: \(error)")
        }
      }
      print(try UnifiedCheckpoint.write(model, to: output, options: options))
    case .onnx:
      if let bert = model as? BertModel {
        try writeBert(bert)
        return
      }
      let shape = inputShape ?? Self.inputShape(of: model)
      var referenceURL: URL? = nil
      if reference {
        guard output.pathExtension == "onnx" else {
          throw CLIError.usage("--reference needs an --output ending in .onnx (the reference file is named after it)")
        }
        guard shape.dropFirst().reduce(1, *) == 64 else {
          throw CLIError.usage("--reference evaluates on the digits test set; this model takes \(shape.dropFirst()) inputs, not 64 features")
        }
        let url = output.deletingPathExtension().appendingPathExtension("reference.safetensors")
        if FileManager.default.fileExists(atPath: url.path), !force {
          throw CLIError.input("\(url.path) already exists; pass --force to replace it")
        }
        referenceURL = url
      }
      let report = try ONNXExporter.standard.write(model, to: output, inputShape: shape, overwrite: force)
      print(report)
      if let referenceURL { try Self.writeReference(model, inputShape: shape, to: referenceURL) }
    case .safetensors:
      if FileManager.default.fileExists(atPath: output.path), !force {
        throw CLIError.input("\(output.path) already exists; pass --force to replace it")
      }
      try writeQuantizedSafeTensors(model, to: output)
      let bytes = (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? NSNumber)?.intValue ?? 0
      print("codes and scales \(output.path): \(bytes) bytes (verified: the codes dequantize to the fake-quantized weights)")
    }
  }

  /// A BERT as ONNX (`input_ids`, `attention_mask` → `sentence_embedding`) and, with
  /// `--reference`, QATKit's and the FP32 model's embeddings of the bundled evaluation sentences.
  private func writeBert(_ bert: BertModel) throws {
    var referenceURL: URL? = nil
    if reference {
      guard output.pathExtension == "onnx" else {
        throw CLIError.usage("--reference needs an --output ending in .onnx (the reference file is named after it)")
      }
      let url = output.deletingPathExtension().appendingPathExtension("reference.safetensors")
      if FileManager.default.fileExists(atPath: url.path), !force {
        throw CLIError.input("\(url.path) already exists; pass --force to replace it")
      }
      referenceURL = url
    }
    let report = try ONNXExporter.standardWithBert.write(
      bert, to: output, inputs: ONNXExporter.bertInputs, outputName: ONNXExporter.bertOutputName(bert), overwrite: force)
    print(report)
    guard let referenceURL else { return }
    let directory = try Self.bertModelDirectory(bertDirectory)
    let (fp32, tokenizer) = try MiniLMFiles.load(directory)
    guard let evalURL = Bundle.module.url(forResource: "minilm/eval.txt", withExtension: nil)
      ?? Bundle.module.resourceURL?.appendingPathComponent("minilm/eval.txt")
    else { throw CLIError.failure("the bundled MiniLM evaluation sentences are missing from the build") }
    let texts = try TextLines.read(evalURL, skipEmpty: true)
    let embeddings = try bert.writeEmbeddingReference(
      texts: texts, tokenizer: tokenizer, fp32: fp32, metadata: ["model": checkpoint.lastPathComponent], to: referenceURL)
    let cmp = try EmbeddingComparison(embeddings, reference: fp32.embed(texts, tokenizer: tokenizer))
    print("reference \(referenceURL.path): QATKit's embeddings of the \(texts.count) bundled eval sentences, and FP32's; QATKit vs FP32: \(cmp)")
  }

  /// The model directory of a BERT checkpoint: `--model DIR`, else the located all-MiniLM-L6-v2.
  static func bertModelDirectory(_ given: URL?) throws -> URL { try MiniLMFiles.directory(given) }

  /// Restores `url` onto a freshly built model of the architecture it records.
  static func rebuild(from url: URL, bertDirectory: URL? = nil) throws -> Module {
    let summary: CheckpointSummary
    do { summary = try inspectCheckpoint(at: url) } catch { throw CLIError.input("\(error)") }
    let shapes = Dictionary(summary.tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
    let type = summary.modelType ?? "unknown"
    let model: Module
    switch type {
    case "MLP":
      var sizes: [Int] = []
      var i = 1
      while let w = shapes["fc\(i).weight"], w.count == 2 {
        if sizes.isEmpty { sizes.append(w[1]) }
        guard w[1] == sizes.last else { throw CLIError.input("\(url.path): fc\(i).weight \(w) does not follow fc\(i - 1)") }
        sizes.append(w[0])
        i += 1
      }
      guard sizes.count >= 2 else { throw CLIError.input("\(url.path) records an MLP but holds no fc1.weight") }
      model = MLP(sizes)
    case "SmallCNN":
      model = SmallCNN(classes: shapes["fc.weight"]?.first ?? 10)
    case "BertModel":
      // The architecture (heads, epsilon, pooling) from the model's config.json; every weight from the checkpoint.
      let directory = try bertModelDirectory(bertDirectory)
      let bert: BertModel
      do { bert = try BertModel.load(directory: directory) } catch { throw CLIError.input("\(directory.path): \(error)") }
      do { try restore(bert, from: url, registry: ToolRegistry.registry) } catch {
        throw CLIError.input("cannot restore \(url.lastPathComponent) onto the BERT of \(directory.path): \(error)")
      }
      bert.eval()
      return bert
    default:
      if summary.modelType == nil {
        throw CLIError.input(
          "\(url.lastPathComponent) does not record its architecture (a plain state dict); give it with --model ARCH.json "
            + "(a layer list in PyTorch's names, see qatkit-run run --help)")
      }
      throw CLIError.input(
        "\(url.lastPathComponent) holds a \(type); a checkpoint records weights and modes but not the architecture, and the "
          + "command line can rebuild \(knownArchitectures.joined(separator: " and ")). For other models build the model in "
          + "Swift, restore the checkpoint onto it and call UnifiedCheckpoint.write or ONNXExporter.standard.write "
          + "(or give its architecture with --model ARCH.json)")
    }
    do { return try restore(model, from: url, registry: ToolRegistry.registry) } catch {
      throw CLIError.input("\(error)")
    }
  }

  /// PTQ of an unquantized model with `preset`, calibrated on the digits training rows. Blocks
  /// that do not divide a layer's inputs shrink to one block per row when the row is shorter
  /// (the digits MLP's fc1 has 64 inputs: INT4 blocks of 64 instead of 128).
  static func quantize(_ model: Module, preset: QuantizePreset) throws -> Module {
    guard model.modeHistory.isEmpty else {
      throw CLIError.usage("--quantize needs an unquantized checkpoint; this one already has modes \(model.modeHistory.map(\.name))")
    }
    guard inputShape(of: model).dropFirst().reduce(1, *) == 64 else {
      throw CLIError.usage("--quantize calibrates on the digits training rows (64 features); this model takes other inputs")
    }
    var config = QuantizeConfig(preset: preset)
    if let b = config.quantCfg.compactMap({ $0.cfg?.blockSize }).first {
      for (path, m) in model.namedModules() {
        guard let l = m as? Linear, l.inFeatures % b != 0 else { continue }
        guard l.inFeatures < b else {
          throw CLIError.usage("preset \(preset.name) uses blocks of \(b), which do not divide the \(l.inFeatures) inputs of \(path)")
        }
        config = config.adding("\(path).weight_quantizer", QuantizerAttributes(
          format: config.quantCfg.first { $0.cfg?.blockSize != nil }!.cfg!.format, blockSize: l.inFeatures))
      }
    }
    let (train, _) = try Digits.load()
    let world = DistributedSession.world
    let calibration = train.shardedBatches(size: 256, communicator: world)
    _ = try convert(
      model, modes: [.quantize(config)], registry: ToolRegistry.registry,
      forwardLoop: { m in for b in calibration { _ = m(b.inputs) } }, communicator: world)
    print("PTQ with preset \(preset.name): max calibration on the \(train.count) digits training rows")
    return model
  }

  /// `[N, features]` for an MLP, `[N, 1, 8, 8]` for the CNN (the batch dimension is dynamic).
  static func inputShape(of model: Module) -> [Int] {
    if model is SmallCNN { return [1, 1, 8, 8] }
    if let mlp = model as? MLP { return [1, mlp.layers[0].inFeatures] }
    return [1, 64]
  }

  /// The digits test set, its labels and the model's logits, with QATKit's accuracy in the
  /// metadata: what `scripts/check_onnx.py` compares onnxruntime against.
  static func writeReference(_ model: Module, inputShape: [Int], to url: URL) throws {
    var (_, test) = try Digits.load()
    // Samples in the model's input shape ([N, 64] or [N, 1, 8, 8]): the model never reshapes.
    test = try test.shaped(Array(inputShape.dropFirst()))
    let shape = [test.count] + inputShape.dropFirst()
    let logits = Tensor.withoutGrad { model(Tensor(shape: shape, storage: test.features)) }
    let accuracy = try Training.accuracy(model, on: test)
    try SafeTensors.write(
      floats: [("input", shape, test.features), ("labels", [test.count], test.labels.map(Float.init)), ("logits", logits.shape, logits.scalars)],
      metadata: ["qatkit_accuracy": String(accuracy)], to: url)
    print(String(format: "reference %@: QATKit test accuracy %.2f%% on %d digits test rows", url.path, 100 * accuracy, test.count))
  }
}
