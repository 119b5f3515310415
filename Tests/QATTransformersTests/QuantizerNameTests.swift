import Foundation
import Testing

import QATKit
import QATTestSupport
import QATTransformers

/// Quantizer paths of the BERT modules are ModelOpt's, and ModelOpt's configs select the same
/// quantizers (no download needed: the architecture alone decides).
@Suite("BERT quantizer names")
struct QuantizerNameTests {
  struct Names: Decodable {
    let quantizers: [String]
    let enabled_int8_default: [String]
  }

  static func modelOpt() throws -> Names {
    try JSONDecoder().decode(Names.self, from: Data(contentsOf: Fixtures.url("minilm/modelopt_quantizer_names.json", in: .module)))
  }

  /// MiniLM-L6's structure (6 layers, a pooler) at a small width: names and config
  /// resolution do not depend on the sizes, and a full-size random model is slow to build in
  /// a debug build.
  static func model() throws -> BertModel {
    BertModel(config: try BertConfig(
      vocabSize: 16, hiddenSize: 128, numHiddenLayers: 6, numAttentionHeads: 2, intermediateSize: 256,
      maxPositionEmbeddings: 8))
  }

  @Test("every quantizer path exists in ModelOpt's MiniLM; only its hard-disabled embedding input quantizers are absent")
  func paths() throws {
    let model = try Self.model()
    let ours = QuantizationEnvironment.builtin.quantizerPaths(of: model)
    let theirs = try Self.modelOpt().quantizers
    #expect(Set(ours).isSubset(of: Set(theirs)), "not in ModelOpt: \(Set(ours).subtracting(theirs).sorted())")
    #expect(Set(theirs).subtracting(ours).sorted() == [
      "embeddings.position_embeddings.input_quantizer", "embeddings.token_type_embeddings.input_quantizer",
      "embeddings.word_embeddings.input_quantizer",
    ])
    #expect(ours.contains("encoder.layer.0.attention.self.query.weight_quantizer"))
  }

  @Test("the int8 recipe enables exactly the quantizers INT8_DEFAULT_CFG enables")
  func int8Selection() throws {
    let model = try Self.model()
    let paths = QuantizationEnvironment.builtin.quantizerPaths(of: model)
    let resolved = try BertQuantization.config(.int8).resolve(paths: paths)
    let enabled = Set(resolved.filter(\.value.enable).keys)
    #expect(enabled == Set(try Self.modelOpt().enabled_int8_default))
    #expect(enabled.count == 87)
    let noLN = try BertQuantization.config(.int8NoLayerNorm).resolve(paths: paths).filter(\.value.enable)
    #expect(noLN.count == 87 - 13)
    #expect(!noLN.keys.contains { $0.contains("LayerNorm") })
    for recipe in BertQuantization.Recipe.allCases {
      try QuantizeMode.validate(BertQuantization.config(recipe), for: model)
    }
  }
}
