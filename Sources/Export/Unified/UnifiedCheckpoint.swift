public import Foundation
public import QATKit

/// ModelOpt's unified Hugging Face checkpoint, the directory TensorRT-LLM, vLLM and SGLang
/// load: `model.safetensors` with the original tensor names, quantized weights packed as
/// ModelOpt packs them plus their scales (`weight_scale`, `weight_scale_2`, `input_scale`,
/// `pre_quant_scale`), `hf_quant_config.json` (`producer`, `quantization.quant_algo`,
/// `group_size`, `exclude_modules`) and, when the model came with one, `config.json` with the
/// same information under `quantization_config`. See ``UnifiedAlgorithm`` for the layouts.
///
/// - ``write(_:to:options:)`` exports a quantized QATKit model and proves the export: it
///   re-reads the directory, dequantizes every weight and compares it with the fake-quantized
///   weight the model computes with, checks that every quantized layer is covered and every
///   excluded one listed, and only then moves the directory into place.
/// - ``read(_:)`` imports a directory written by QATKit or by ModelOpt's
///   `export_hf_checkpoint` (dequantize-on-load); ``UnifiedCheckpointContents/load(into:quantizeActivations:)``
///   puts it into a QATKit model.
public enum UnifiedCheckpoint {
  /// The weights file.
  public static let weightsFile = "model.safetensors"
  /// The quantization config file.
  public static let quantConfigFile = "hf_quant_config.json"
  /// The Hugging Face model config file.
  public static let configFile = "config.json"
  /// `producer.name` written by QATKit.
  public static let producerName = "qatkit"
  /// `producer.version` written by QATKit.
  public static let producerVersion = "0.1.0"
}

/// Options of ``UnifiedCheckpoint/write(_:to:options:)``.
public struct UnifiedExportOptions {
  /// The Hugging Face `config.json` that came with the model; when given, it is written
  /// with `quantization_config` added (ModelOpt's compressed-tensors-like mirror of
  /// `hf_quant_config.json`).
  public var hfConfig: JSONValue?
  /// Replace an existing output directory (`--force`); otherwise an existing path is an error.
  public var overwrite: Bool
  /// Called on the temporary directory after writing and before verification (tests use it
  /// to corrupt a byte and check that verification catches it).
  package var afterWriting: ((URL) throws -> Void)?

  /// Creates options.
  public init(hfConfig: JSONValue? = nil, overwrite: Bool = false) {
    self.hfConfig = hfConfig
    self.overwrite = overwrite
  }
}

/// One quantized layer of an export.
public struct UnifiedExportedLayer: Sendable, Equatable {
  /// Module path.
  public let path: String
  /// Its algorithm.
  public let algorithm: UnifiedAlgorithm
  /// Its group size, for grouped algorithms.
  public let groupSize: Int?
}

/// What ``UnifiedCheckpoint/write(_:to:options:)`` wrote and verified.
public struct UnifiedExportReport: Sendable, CustomStringConvertible {
  /// The output directory.
  public let directory: URL
  /// `quantization.quant_algo` (`MIXED_PRECISION` when layers differ).
  public let quantAlgo: String
  /// The quantized layers.
  public let layers: [UnifiedExportedLayer]
  /// Quantizable layers left in full precision, by path.
  public let excludedModules: [String]
  /// `exclude_modules` as written (ModelOpt's prefix-wildcard summary of ``excludedModules``).
  public let excludePatterns: [String]
  /// Bytes of each written file.
  public let fileBytes: [String: Int]
  /// Bytes of `model.safetensors` if the model's parameters were all stored in FP32.
  public let fp32WeightsBytes: Int
  /// Tensors compared after re-reading.
  public let verifiedTensors: Int
  /// Largest distance in units in the last place between a dequantized weight (as a runtime
  /// computes it, codes × scales) and the fake-quantized weight the model trained with: 0 for
  /// FP8 / NVFP4 / MXFP4 (their stored scales are the factors training multiplies by); INT
  /// formats dequantize as `q · fp32(amax/maxBound)` where training (ModelOpt's arithmetic)
  /// computes `q / fp32(maxBound/amax)`: four roundings of relative size ≤ 2⁻²⁴ apart, so at
  /// most 4 ulp (verification fails beyond that). The codes and scales themselves are
  /// compared bit for bit.
  public let maxULPDistance: Int

  /// Bytes of `model.safetensors`.
  public var weightsBytes: Int { fileBytes[UnifiedCheckpoint.weightsFile] ?? 0 }

  /// A summary for the command line.
  public var description: String {
    let ratio = fp32WeightsBytes > 0 ? Double(weightsBytes) / Double(fp32WeightsBytes) : 0
    var lines = [
      "unified checkpoint \(directory.path): quant_algo \(quantAlgo), \(layers.count) quantized layer(s), \(excludedModules.count) excluded",
      String(
        format: "model.safetensors %d bytes (FP32: %d bytes, %.1f%%); verified %d tensors after re-reading (max %d ulp from the fake-quantized weights)",
        weightsBytes, fp32WeightsBytes, 100 * ratio, verifiedTensors, maxULPDistance),
    ]
    for l in layers { lines.append("  \(l.path): \(l.algorithm.rawValue)\(l.groupSize.map { " group \($0)" } ?? "")") }
    if !excludePatterns.isEmpty { lines.append("  excluded: \(excludePatterns.joined(separator: ", "))") }
    return lines.joined(separator: "\n")
  }
}
