public import Foundation
public import QATKit

extension UnifiedCheckpoint {
  /// Writes `model` as a unified checkpoint directory and verifies it.
  ///
  /// Every layer with a `weight_quantizer` slot is either quantized (its enabled weight
  /// quantizer decides the algorithm, with its input quantizer: INT8 per-channel →
  /// `W8A16`/`W8A8_SQ_PER_CHANNEL`, INT4 blocks → `W4A16_AWQ`, FP8 E4M3 per-tensor → `FP8`, NVFP4
  /// → `NVFP4`/`W4A16_NVFP4`, MXFP4 → `mxfp4`) or excluded (listed in `exclude_modules`); layers
  /// that differ make the checkpoint `MIXED_PRECISION`. Weights are stored as the model's
  /// quantizers encode them, so they dequantize to the weights the model trained with.
  ///
  /// The files go to a temporary directory next to `directory`, are re-read and checked
  /// (``verify(_:against:)``), and only then renamed into place: on any error nothing is left
  /// behind and an existing directory is untouched.
  ///
  /// - Throws: ``ExportError/noQuantizers(_:)``, ``ExportError/unsupported(layer:_:)`` naming the
  ///   layer, ``ExportError/destinationExists(_:)`` (unless `options.overwrite`),
  ///   ``ExportError/cannotWrite(path:_:)``, ``ExportError/verificationFailed(_:)``.
  @discardableResult
  public static func write(_ model: Module, to directory: URL, options: UnifiedExportOptions = .init()) throws
    -> UnifiedExportReport
  {
    let expected = try UnifiedExpected(model)
    let layers = expected.exportedLayers
    let hf = UnifiedQuantConfig.hfQuantConfig(layers: layers, excluded: expected.plan.excluded)
    var config: JSONValue? = nil
    if let given = options.hfConfig {
      guard case .object(var o) = given else {
        throw ExportError.malformed(path: configFile, "the model's config.json must be a JSON object")
      }
      o["quantization_config"] = UnifiedQuantConfig.quantizationConfig(from: hf)
      config = .object(o)
    }
    let output = try OutputLocation(directory, overwrite: options.overwrite)
    let temp = try output.makeTemporaryDirectory()
    var fileBytes: [String: Int] = [:]
    let verified: (tensors: Int, maxULPDistance: Int)
    do {
      let weights = temp.appendingPathComponent(weightsFile)
      try SafeTensors.write(expected.tensors, metadata: ["format": "pt", "producer": "\(producerName) \(producerVersion)"], to: weights)
      try UnifiedQuantConfig.text(hf).write(to: temp.appendingPathComponent(quantConfigFile))
      if let config { try UnifiedQuantConfig.text(config).write(to: temp.appendingPathComponent(configFile)) }
      try options.afterWriting?(temp)
      verified = try verify(temp, expected: expected)
      for name in try FileManager.default.contentsOfDirectory(atPath: temp.path) {
        let attributes = try FileManager.default.attributesOfItem(atPath: temp.appendingPathComponent(name).path)
        fileBytes[name] = (attributes[.size] as? NSNumber)?.intValue ?? 0
      }
      try output.commit(temp)
    } catch {
      try? FileManager.default.removeItem(at: temp)
      if let e = error as? ExportError { throw e }
      throw ExportError.cannotWrite(path: directory.path, "\(error)")
    }
    // The same parameters unquantized: one FP32 safetensors file of the model's state dict.
    let fp32 = model.stateDict().filter { !$0.0.contains("_quantizer.") }.map { name, t -> SafeTensors.Tensor in
      (name, .f32, t.shape, [UInt8](repeating: 0, count: 4 * t.count))
    }
    let fp32Bytes = (try? SafeTensors.serialize(fp32, metadata: ["format": "pt"]).count) ?? 0
    return UnifiedExportReport(
      directory: output.destination, quantAlgo: stringValue(hf["quantization"]?["quant_algo"]) ?? "?", layers: layers,
      excludedModules: expected.plan.excluded,
      excludePatterns: UnifiedQuantConfig.summarizeExclusions(excluded: expected.plan.excluded, quantized: layers.map(\.path)),
      fileBytes: fileBytes, fp32WeightsBytes: fp32Bytes, verifiedTensors: verified.tensors,
      maxULPDistance: verified.maxULPDistance)
  }

  private static func stringValue(_ v: JSONValue?) -> String? {
    if case .string(let s)? = v { return s }
    return nil
  }
}
