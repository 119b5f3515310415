import Foundation
import QATKit
import QATTestSupport
import QATTransformers
import Testing

/// `qatkit-run embed` and `minilm` as processes: help, errors with their exit codes, and (with
/// the model present) the embeddings `embed` writes against sentence-transformers' reference.
/// The PTQ → QAD table itself takes minutes in a release build: `qatkit-run minilm` (README).
@Suite("qatkit-run: embed and minilm")
struct CommandLineMiniLMTests {
  @Test func helpListsTheCommands() throws {
    let root = try ToolProcess.run(["--help"])
    #expect(root.status == 0)
    for command in ["embed", "minilm"] {
      #expect(root.stdout.contains("  \(command) "), "root help lists \(command)")
      let h = try ToolProcess.run([command, "--help"])
      #expect(h.status == 0 && h.stdout.contains("USAGE: qatkit-run \(command)"), "\(command) --help")
      #expect(h.stdout.contains("--model DIR"))
    }
  }

  @Test func errorsHaveExitCodesAndSayWhatToDo() throws {
    let dir = ToolProcess.workingDirectory()
    try "one sentence\n".write(to: dir.appendingPathComponent("in.txt"), atomically: true, encoding: .utf8)
    let notModel = dir.appendingPathComponent("empty-model")
    try FileManager.default.createDirectory(at: notModel, withIntermediateDirectories: true)
    let cases: [(args: [String], status: Int32, message: String)] = [
      (["embed", "--output", "e.safetensors"], 2, "'embed' needs --input FILE.txt"),
      (["embed", "--input", "in.txt"], 2, "'embed' needs --output FILE.safetensors"),
      (["embed", "--input", "in.txt", "--output", "e.safetensors", "--model", notModel.path], 2,
       "is not a model directory (it needs config.json, vocab.txt and model.safetensors)"),
      (["embed", "--input", "in.txt", "--output", "e.safetensors", "--batch-size", "0"], 2, "--batch-size"),
      (["minilm", "--configs", "int9"], 2, "--configs"),
      (["minilm", "--ranges", "learned"], 2, "--ranges: unknown 'learned'; use frozen, lsq or frozen,lsq"),
      (["minilm", "--model", notModel.path], 2, "is not a model directory"),
      (["minilm", "--hidden-kd", "2"], 2, "--hidden-kd"),
      (["minilm", "--weight-range-lr", "-1"], 2, "--weight-range-lr"),
      // --algorithm with learned ranges parses (LSQ starts from the algorithm's result); the bad option after it is reported.
      (["minilm", "--algorithm", "awq_lite", "--ranges", "lsq", "--epochs", "many"], 2, "'--epochs' expects an integer"),
      (["minilm", "--algorithm", "{\"alpha\": 1}", "--ranges", "frozen"], 2, "--algorithm {\"alpha\": 1}"),
    ]
    for c in cases {
      let r = try ToolProcess.run(c.args, in: dir)
      #expect(r.status == c.status, "\(c.args): exit \(r.status), stderr \(r.stderr)")
      #expect(r.stderr.contains(c.message), "\(c.args): \(r.stderr)")
      #expect(!r.signaled && !r.stderr.contains("Fatal error"), "\(c.args)")
    }
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("e.safetensors").path))
  }

  struct Item: Decodable {
    let text: String
    let embedding: [Float]
  }

  struct Subset: Decodable { let items: [Item] }

  /// Two short sentences (a debug build runs the model slowly): the written `embeddings [2, 384]`
  /// match sentence-transformers' (the fixture of the transformer tests); a checkpoint that is
  /// not one is an input error and leaves no output behind.
  @Test(.enabled(if: MiniLM.locate() != nil, Comment(rawValue: MiniLM.missingHint)))
  func embedWritesSentenceEmbeddings() throws {
    let fixture = Examples.packageRoot.appendingPathComponent("Tests/QATTransformersTests/Fixtures/minilm/embedding_subset.json")
    let items = Array(try JSONDecoder().decode(Subset.self, from: Data(contentsOf: fixture)).items.prefix(2))
    let dir = ToolProcess.workingDirectory()
    try items.map(\.text).joined(separator: "\n").write(to: dir.appendingPathComponent("in.txt"), atomically: true, encoding: .utf8)
    let r = try ToolProcess.run(["embed", "--input", "in.txt", "--output", "out/e.safetensors"], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    let file = try SafeTensorsFile(contentsOf: dir.appendingPathComponent("out/e.safetensors"))
    #expect(file.names == ["embeddings"])
    #expect(try file.info("embeddings").shape == [2, 384] && file.info("embeddings").dtype == .f32)
    let got = try file.floats("embeddings")
    for (i, item) in items.enumerated() {
      let row = got[(i * 384)..<((i + 1) * 384)]
      let cosine = zip(row, item.embedding).reduce(Float(0)) { $0 + $1.0 * $1.1 }
      #expect(cosine >= 0.99999, "sentence \(i): cosine \(cosine)")
    }
    try "not a checkpoint".write(to: dir.appendingPathComponent("bad.safetensors"), atomically: true, encoding: .utf8)
    let bad = try ToolProcess.run(["embed", "--input", "in.txt", "--output", "bad-out.safetensors", "--checkpoint", "bad.safetensors"], in: dir)
    #expect(bad.status == 2 && bad.stderr.contains("cannot apply checkpoint"), "\(bad.status) \(bad.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad-out.safetensors").path))
  }
  /// The same method twice (two SmoothQuant α) on tiny sentence sets: each run gets its own
  /// checkpoint (`+smoothquant`, `+smoothquant.2`), and both restore bit for bit.
  @Test(.enabled(if: MiniLM.locate() != nil, Comment(rawValue: MiniLM.missingHint)))
  func repeatedAlgorithmsKeepTheirOwnCheckpoints() throws {
    let dir = ToolProcess.workingDirectory()
    let data = dir.appendingPathComponent("data")
    try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
    try "A cat sat on the mat.\nThe stock market fell sharply today.\nShe plays the violin."
      .write(to: data.appendingPathComponent("corpus_train.txt"), atomically: true, encoding: .utf8)
    try "Dogs bark at night.\nPrices rose again."
      .write(to: data.appendingPathComponent("eval.txt"), atomically: true, encoding: .utf8)
    let r = try ToolProcess.run([
      "minilm", "--data", "data", "--configs", "int8_no_ln", "--ranges", "frozen", "--epochs", "0", "--quiet",
      "--algorithm", "smoothquant", "--algorithm", "{\"method\": \"smoothquant\", \"alpha\": 1}", "--out", "runs",
    ], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    for name in ["int8_no_ln+smoothquant", "int8_no_ln+smoothquant.2"] {
      let file = dir.appendingPathComponent("runs/\(name)-frozen-ptq.safetensors")
      #expect(FileManager.default.fileExists(atPath: file.path), "\(name): no checkpoint")
      #expect(r.stdout.contains(name), "\(name): no table row")
    }
  }
}
