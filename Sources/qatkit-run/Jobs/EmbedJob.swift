import Foundation
import QATKit
import QATPlugins
import QATRegistry
import QATTransformers

/// `qatkit-run embed`: sentence embeddings of a text file with the FP32 model or a quantized
/// checkpoint, written as one safetensors tensor `embeddings [N, hidden]` (float32).
struct EmbedJob {
  let modelDirectory: URL
  let input: URL
  let output: URL
  let checkpoint: URL?
  let batchSize: Int

  func run() throws {
    let lines = try TextLines.read(input, skipEmpty: false)
    guard !lines.isEmpty else { throw CLIError.input("\(input.path) has no lines to embed") }
    let (model, tokenizer) = try MiniLMFiles.load(modelDirectory)
    if let checkpoint {
      do {
        try restore(model, from: checkpoint, registry: InTreePlugins.registry)
      } catch {
        throw CLIError.input("cannot apply checkpoint \(checkpoint.path) to the model in \(modelDirectory.path): \(error)")
      }
      model.eval()
    }
    let progress = Progress("embedding", total: lines.count)
    let embeddings = model.embed(lines, tokenizer: tokenizer, batchSize: batchSize) { progress.update($0) }
    progress.finish()
    let truncated = lines.filter { tokenizer.encode($0).truncated }.count
    try OutputFiles.writing(output) {
      try SafeTensors.write(
        floats: [(name: "embeddings", shape: embeddings.shape, values: embeddings.scalars)], as: .f32,
        metadata: [
          "producer": "qatkit-run embed", "model": modelDirectory.path, "checkpoint": checkpoint?.path ?? "",
          "sentences": String(lines.count), "truncated": String(truncated),
        ], to: output)
    }
    Progress.note(
      "wrote embeddings [\(lines.count), \(embeddings.shape[1])] to \(output.path)"
        + (truncated > 0 ? " (\(truncated) lines were truncated to \(tokenizer.maxLength) tokens)" : ""))
  }
}

/// Loading the model directory for the command line, with the user-facing errors.
enum MiniLMFiles {
  /// The model directory given, or the one `scripts/fetch-minilm.sh` installed.
  static func directory(_ given: URL?) throws -> URL {
    if let given {
      guard MiniLM.isModelDirectory(given) else {
        throw CLIError.input("\(given.path) is not a model directory (it needs config.json, vocab.txt and model.safetensors)")
      }
      return given
    }
    guard let found = MiniLM.locate() else { throw CLIError.input(MiniLM.missingHint + "; or pass --model DIR") }
    return found
  }

  /// The model (evaluation mode) and tokenizer of `directory`.
  static func load(_ directory: URL, configure: ((inout BertConfig) -> Void)? = nil) throws -> (BertModel, BertTokenizer) {
    do {
      return (try BertModel.load(directory: directory, configure: configure), try BertTokenizer(directory: directory))
    } catch let e as TransformersError {
      throw CLIError.input("\(e)")
    }
  }
}
