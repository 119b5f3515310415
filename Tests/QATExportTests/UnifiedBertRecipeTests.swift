import Foundation
import QATKit
import QATRegistry
import QATTransformers
import Testing
@testable import QATExport

/// The `_no_ln` recipes of ``BertQuantization`` (ModelOpt's FP8 / NVFP4 / MXFP4 configs with
/// the LayerNorm input quantizers off) export a BERT to the unified checkpoint, which
/// self-verifies (every weight dequantized bit for bit, every layer covered); the recipes that
/// keep the LayerNorm input quantizers are refused naming the first LayerNorm.
@Suite("Unified export: BERT recipes") struct UnifiedBertRecipeTests {
  static func quantized(_ recipe: BertQuantization.Recipe) throws -> BertModel {
    let m = BertModel(config: ONNXBertTests.config, initialization: .random(seed: 4))
    m.eval()
    let calibration = ONNXBertTests.batch(count: 6, seed: 21).packed
    try convert(m, modes: [.quantize(BertQuantization.config(recipe))], forwardLoop: { m in _ = m(calibration) })
    return m
  }

  @Test(arguments: [
    (BertQuantization.Recipe.fp8NoLayerNorm, "FP8"), (.nvfp4NoLayerNorm, "NVFP4"), (.mxfp4NoLayerNorm, "mxfp4"),
  ])
  func noLayerNormRecipesExportAndVerify(_ recipe: BertQuantization.Recipe, _ quantAlgo: String) throws {
    let m = try Self.quantized(recipe)
    let dir = tempURL(recipe.rawValue)
    let report = try UnifiedCheckpoint.write(m, to: dir)
    #expect(report.quantAlgo == quantAlgo)
    // 2 layers × 6 Linear + the pooler.
    #expect(report.layers.count == 13)
    #expect(report.verifiedTensors > 0 && report.maxULPDistance == 0)
    #expect(report.weightsBytes < report.fp32WeightsBytes)
    // The written directory reads back: the same tensors dequantize to the fake-quantized weights.
    let read = try UnifiedCheckpoint.read(dir)
    let q = m.encoder.layers[1].attention.output.dense
    let fake = Tensor.withoutGrad { q.quantizer(slot: "weight_quantizer")!(q.weight) }.scalars
    #expect(read.layers.first { $0.path == "encoder.layer.1.attention.output.dense" }?.weight.scalars == fake)
  }

  @Test(arguments: [BertQuantization.Recipe.fp8, .nvfp4, .mxfp4])
  func layerNormInputQuantizersAreRefused(_ recipe: BertQuantization.Recipe) throws {
    let m = try Self.quantized(recipe)
    let dir = tempURL(recipe.rawValue)
    #expect { try UnifiedCheckpoint.write(m, to: dir) } throws: { e in
      guard case ExportError.unsupported(let layer, let msg) = e else { return false }
      return layer == "embeddings.LayerNorm" && msg.contains("input_quantizer")
    }
    #expect(!FileManager.default.fileExists(atPath: dir.path))
  }

  /// `w4a8_no_ln` (INT4 blocks + FP8 activations) has no unified algorithm (ModelOpt's W4A8_AWQ
  /// has a second FP8 weight stage) but exports to ONNX: INT4 codes at opset 21 with FP8 Q/DQ.
  @Test func w4a8NoLayerNormExportsToONNX() throws {
    let m = BertModel(config: ONNXBertTests.config, initialization: .random(seed: 4))
    m.eval()
    var cfg = BertQuantization.config(.w4a8NoLayerNorm)
    // The tiny BERT's rows (32, 64) are shorter than the recipe's blocks of 128.
    cfg = cfg.adding("*weight_quantizer", .int(4, blockSize: 16)).setting("*_embeddings.*", enabled: false, optional: true)
      .setting("*LayerNorm*", enabled: false)
    let calibration = ONNXBertTests.batch(count: 6, seed: 21).packed
    try convert(m, modes: [.quantize(cfg)], forwardLoop: { m in _ = m(calibration) })
    #expect { try UnifiedCheckpoint.write(m, to: tempURL("w4a8")) } throws: { e in "\(e)".contains("W4A8_AWQ") }
    let g = try ONNXExporter.standardWithBert.graph(for: m, inputs: ONNXExporter.bertInputs, outputName: "sentence_embedding")
    #expect(g.opset == 21)
    #expect(g.graph.initializers.contains { $0.name == "encoder.layer.0.output.dense.weight_quantized" && $0.dataType == .int4 })
    #expect(g.graph.initializers.contains { $0.name.hasSuffix("input_quantizer.zero_point") && $0.dataType == .float8e4m3fn })
    #expect(!g.graph.initializers.contains { $0.name.contains("LayerNorm.input_quantizer") })
  }
}
