import Foundation
import Testing

import QATKit
import QATPlugins
import QATRegistry
import QATTestSupport
import QATTransformers

/// The real all-MiniLM-L6-v2, when present (`scripts/fetch-minilm.sh`, or `$QATKIT_MINILM_DIR`;
/// `.ci/run` fetches it). Without it these tests are skipped with the reason.
enum MiniLMFixture {
  static let directory = MiniLM.locate()

  /// Loaded once and shared by suites that run at the same time: forwards in evaluation mode
  /// are safe from several threads (the padding mask is bound per task). Tests that change
  /// weights, modes or the output load their own copy.
  nonisolated(unsafe) static let shared: (model: BertModel, tokenizer: BertTokenizer)? = {
    guard let directory else { return nil }
    return (try! BertModel.load(directory: directory), try! BertTokenizer(directory: directory))
  }()

  struct Item: Decodable {
    let text: String
    let input_ids: [Int]
    let embedding: [Float]
  }

  struct File: Decodable { let items: [Item] }

  static func subset() throws -> [Item] {
    try JSONDecoder().decode(File.self, from: Data(contentsOf: Fixtures.url("minilm/embedding_subset.json", in: .module))).items
  }
}

@Suite("all-MiniLM-L6-v2", .serialized, .enabled(if: MiniLMFixture.directory != nil, Comment(rawValue: MiniLM.missingHint)))
struct MiniLMTests {
  @Test("sentence embeddings equal sentence-transformers' (cosine ≥ 0.99999) on the fixture subset")
  func embeddings() throws {
    let (model, tokenizer) = MiniLMFixture.shared!
    let items = try MiniLMFixture.subset()
    let batch = tokenizer.batch(items.map(\.text))
    #expect(batch.ids.map { Array($0.prefix { $0 != 0 }) } == items.map(\.input_ids))
    let got = Tensor.withoutGrad { model(batch) }
    let reference = try Tensor(items.flatMap(\.embedding), shape: [items.count, 384])
    let cmp = try EmbeddingComparison(got, reference: reference)
    #expect(cmp.minCosine >= 0.99999, "worst cosine \(cmp.minCosine) (item \(cmp.worstIndex)), max |diff| \(cmp.maxAbsDifference)")
    #expect(cmp.maxAbsDifference < 1e-4, "max |diff| \(cmp.maxAbsDifference)")
  }

  @Test("INT8 quantized MiniLM: save → restore onto a freshly loaded model gives bit-identical embeddings")
  func saveRestore() throws {
    let dir = MiniLMFixture.directory!
    let (_, tokenizer) = MiniLMFixture.shared!
    let calibration = tokenizer.batch(["Return the sum.", "Open the file."]).packed
    let probe = tokenizer.batch(["Escape all special characters.", "Read it."]).packed
    let registry = InTreePlugins.registry
    let model = try BertModel.load(directory: dir)
    try convert(model, modes: [.quantize(BertQuantization.config(.int8, learnedRanges: true))], registry: registry,
                forwardLoop: { m in _ = m(calibration) })
    // A training step moves the learned ranges away from their calibrated values.
    let ranges = model.namedParameters().filter { $0.0.hasSuffix("_quantizer._amax") }
    #expect(ranges.count == 87)
    let before = ranges.map { $0.1.scalars }
    model.train()
    let optimizer = Adam(model.trainableParameters(), learningRate: 1e-3)
    let target = Tensor.withoutGrad { MiniLMFixture.shared!.model(probe) }
    let loss = (1 - (model(probe) * target).sum(axis: -1)).mean()
    loss.backward()
    optimizer.step()
    #expect(ranges.map { $0.1.scalars } != before)
    model.eval()
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("minilm-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: url) }
    try save(model, to: url, registry: registry)
    let restored = try restore(try BertModel.load(directory: dir), from: url, registry: registry)
    restored.eval()
    let a = Tensor.withoutGrad { model(probe) }.scalars, b = Tensor.withoutGrad { restored(probe) }.scalars
    #expect(a == b)
    #expect(a != Tensor.withoutGrad { MiniLMFixture.shared!.model(probe) }.scalars)
  }
}
