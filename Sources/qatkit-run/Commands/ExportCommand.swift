import Foundation
import QATKit

/// `qatkit-run export CHECKPOINT --format unified|onnx|safetensors --output PATH [--force]`:
/// a checkpoint in a deployment format (see ``ExportJob``).
struct ExportCommand: Command {
  static let name = "export"
  static let abstract = "write a checkpoint as ModelOpt's unified HF checkpoint, ONNX with Q/DQ, or codes and scales"
  static let usage = [
    "export CHECKPOINT --format unified --output DIR [--config config.json] [--force]",
    "export CHECKPOINT --format onnx --output FILE.onnx [--reference] [--force]",
    "export CHECKPOINT --format safetensors --output FILE.safetensors [--force]",
    "export FP32_CHECKPOINT --quantize PRESET --format ... (PTQ on the digits training rows first)",
    "export MINILM_CHECKPOINT --format onnx|unified --output PATH [--model MODEL_DIR] [--reference]",
  ]
  static let discussion = """
    The checkpoint is restored onto the architecture it was saved from (recorded by train,
    quantize, qat, distill, run and recipe; --model ARCH.json for others; else an MLP, with its
    layer sizes read from the weights, or the SmallCNN; a BertModel written by `minilm` is built
    from the config.json of --model MODEL_DIR, default $QATKIT_MINILM_DIR or where
    scripts/fetch-minilm.sh puts all-MiniLM-L6-v2) and written in the chosen format; every
    format is verified before it is moved into place, and nothing is left behind on error.

      unified      ModelOpt's unified Hugging Face checkpoint (what TensorRT-LLM, vLLM and SGLang
                   load): model.safetensors with packed weights and weight_scale / weight_scale_2 /
                   input_scale, hf_quant_config.json, and config.json with quantization_config when
                   --config gives the model's config.json (a BERT's by default). Re-read and compared with the
                   fake-quantized weights after writing.
      onnx         ONNX with QuantizeLinear / DequantizeLinear: INT8 (opset 13), INT4 blocks
                   (opset 21), FP8 (opset 19). Input "input" [N, features] (MLP) or [N, 1, 8, 8]
                   (CNN), output "logits"; a BERT takes input_ids and attention_mask (int64
                   [N, T]) and returns sentence_embedding [N, hidden]. --reference also writes
                   FILE.reference.safetensors with QATKit's logits on the digits test set (a BERT:
                   its and the FP32 model's embeddings of the bundled eval sentences), for
                   scripts/check_onnx.py.
      safetensors  QATKit's codes-and-scales file (one safetensors, ModelOpt-like names).

    --quantize PRESET first quantizes an unquantized checkpoint (e.g. runs/fp32.safetensors
    of the default job) with a preset of `qatkit-run list` (int8, int4_weight_only, fp8,
    nvfp4, mxfp4, ...), max-calibrated on the digits training rows.

    An existing output is an error unless --force.
    """
  static let options: [OptionSpec] = [
    .option("--format", "FORMAT", "unified, onnx or safetensors (required)"),
    .option("--output", "PATH", "the directory (unified) or file to write (required)"),
    .flag("--force", "replace an existing output"),
    .option("--config", "FILE", "unified: the model's Hugging Face config.json, written with quantization_config"),
    .flag("--reference", "onnx: also write QATKit's logits on the digits test set next to the file"),
    .option("--quantize", "PRESET", "PTQ an unquantized checkpoint with this preset first (on its recorded data, or digits)"),
    .option("--model", "ARCH.json|DIR", "the architecture when the checkpoint does not record it, or a BERT checkpoint's model directory"),
  ]
  static let positionals = 1...1

  let job: ExportJob

  init(_ arguments: ParsedArguments) throws {
    guard let f = arguments.string("--format") else {
      throw CLIError.usage("--format is required: \(ExportJob.Format.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    guard let format = ExportJob.Format(rawValue: f) else {
      let hint = ParsedArguments.nearest(f, in: ExportJob.Format.allCases.map(\.rawValue))
      throw CLIError.usage(
        "unknown format '\(f)'\(hint.map { "; did you mean '\($0)'?" } ?? ""); formats: \(ExportJob.Format.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    guard let output = arguments.url("--output") else { throw CLIError.usage("--output PATH is required") }
    if arguments.string("--config") != nil, format != .unified { throw CLIError.usage("--config applies to --format unified") }
    if arguments.flag("--reference"), format != .onnx { throw CLIError.usage("--reference applies to --format onnx") }
    var job = ExportJob(
      checkpoint: URL(fileURLWithPath: arguments.positionals[0]), format: format, output: output,
      force: arguments.flag("--force"), hfConfig: arguments.url("--config"), reference: arguments.flag("--reference"))
    if let p = arguments.string("--quantize") {
      do { job.preset = try QuantizePreset(named: p) } catch { throw CLIError.usage("--quantize: \(error)") }
    }
    if let url = arguments.url("--model") {
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
        job.bertDirectory = url
      } else if let file = try arguments.existingFile("--model") {
        job.architecture = try Architecture(contentsOf: file)
      }
    }
    self.job = job
  }

  func run() throws { try job.run() }
}
