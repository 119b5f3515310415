import Foundation

/// `qatkit-run embed`: sentence embeddings of a text file (one sentence per line) with
/// all-MiniLM-L6-v2 (or another BERT sentence-embedding model directory), FP32 or from a
/// quantized checkpoint.
struct EmbedCommand: Command {
  static let name = "embed"
  static let abstract = "sentence embeddings of a text file with a BERT model (FP32 or a quantized checkpoint)"
  static let usage = ["embed --input FILE.txt --output FILE.safetensors [--model DIR] [--checkpoint CKPT]"]
  static let discussion = """
    Writes one float32 tensor 'embeddings' [N, hidden] to --output (atomically), row i the
    sentence embedding of line i of --input (every line, empty ones included; sentences
    longer than 256 tokens are truncated, as sentence-transformers does). --checkpoint
    applies a checkpoint written by 'qatkit-run minilm' (or any quantized BertModel) to the
    model first. --model defaults to the directory scripts/fetch-minilm.sh installs
    (or $QATKIT_MINILM_DIR).
    """
  static let options: [OptionSpec] = [
    .option("--model", "DIR", "model directory (config.json, vocab.txt, model.safetensors)"),
    .option("--input", "FILE", "UTF-8 text, one sentence per line"),
    .option("--output", "FILE", "safetensors file to write"),
    .option("--checkpoint", "CKPT", "quantized checkpoint to restore onto the model"),
    .option("--batch-size", "N", "sentences per forward pass (default: 64)"),
  ]

  let job: EmbedJob

  init(_ arguments: ParsedArguments) throws {
    try DistributedSession.requireSingleProcess("embed")
    guard let input = arguments.url("--input") else { throw CLIError.usage("'embed' needs --input FILE.txt") }
    guard let output = arguments.url("--output") else { throw CLIError.usage("'embed' needs --output FILE.safetensors") }
    // Options first, the model last: a bad option is a usage error whether or not the model is installed.
    let batchSize = try arguments.int("--batch-size", default: 64, in: 1...4096)
    job = EmbedJob(
      modelDirectory: try MiniLMFiles.directory(arguments.url("--model")), input: input, output: output,
      checkpoint: arguments.url("--checkpoint"), batchSize: batchSize)
  }

  func run() throws { try job.run() }
}
