import Foundation
import Testing

import QATKit
import QATTestSupport
import QATTransformers

/// The WordPiece tokenizer against the reference ids of `BertTokenizerFast` (fixtures from the
/// shared MiniLM data; the vocabulary ships with the fixtures, so these tests always run).
@Suite("BERT tokenizer")
struct TokenizerTests {
  struct Item: Decodable {
    let text: String
    let input_ids: [Int]
  }

  struct File: Decodable { let items: [Item] }

  static func items(_ name: String) throws -> [Item] {
    let url = try Fixtures.url("minilm/\(name)", in: .module)
    return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).items
  }

  static let tokenizer: BertTokenizer = {
    let dir = try! Fixtures.url("minilm/tokenizer", in: .module)
    return try! BertTokenizer(directory: dir)
  }()

  @Test("every hard case of tokenizer_cases.json gives the reference ids")
  func hardCases() throws {
    let items = try Self.items("tokenizer_cases.json")
    #expect(items.count == 21)
    for item in items {
      let got = Self.tokenizer.encode(item.text).ids
      #expect(got == item.input_ids, "\(item.text.debugDescription.prefix(80))")
    }
  }

  @Test("all 500 evaluation sentences give the reference ids")
  func evalSentences() throws {
    let items = try Self.items("eval_ids.json")
    #expect(items.count == 500)
    let wrong = items.filter { Self.tokenizer.encode($0.text).ids != $0.input_ids }
    #expect(wrong.isEmpty, "\(wrong.count) sentences differ, first: \(wrong.first.map(\.text) ?? "")")
  }

  @Test("settings come from the model directory: lower-casing, accents, max length 256")
  func configuration() {
    let t = Self.tokenizer
    #expect(t.maxLength == 256)
    #expect(t.normalizer.lowercase && t.normalizer.stripAccents == nil && t.normalizer.handleChineseChars)
    #expect((t.clsID, t.sepID, t.padID, t.wordPiece.unknownID) == (101, 102, 0, 100))
  }

  @Test("normalizer steps: control and zero-width characters, white space, CJK, accents, case")
  func normalizer() {
    let n = BertNormalizer()
    #expect(n.normalize("A\u{7}b\u{200B}c\u{AD}d\u{0}e\u{FFFD}") == "abcde")
    #expect(n.normalize("a\tb\nc\u{A0}d\u{3000}e") == "a b c d e")
    #expect(n.normalize("数学x") == " 数  学 x")
    #expect(n.normalize("Ångström ÉCOLE") == "angstrom ecole")
    // İ decomposes to I + U+0307 (stripped); without accent stripping, the full lower-case
    // mapping gives i + U+0307.
    #expect(n.normalize("İ") == "i")
    #expect(BertNormalizer(stripAccents: false).normalize("İ").unicodeScalars.map(\.value) == [0x69, 0x307])
    let cased = BertNormalizer(lowercase: false)
    #expect(cased.normalize("Café") == "Café")
  }

  @Test("pre-tokenizer: ASCII punctuation (symbols included) and Unicode punctuation split; other symbols stay")
  func preTokenizer() {
    let words = BertPreTokenizer().split("a+b=c «d» e…f ©g").map { String(String.UnicodeScalarView($0)) }
    #expect(words == ["a", "+", "b", "=", "c", "«", "d", "»", "e", "…", "f", "©g"])
  }

  @Test("WordPiece: greedy longest match with ##, [UNK] for unknown parts and words over 100 characters")
  func wordPiece() {
    let wp = Self.tokenizer.wordPiece
    func ids(_ s: String) -> [Int] { wp.tokenize(Array(s.unicodeScalars)) }
    #expect(ids("unaffable") == [14477, 20961, 3468])
    #expect(ids(String(repeating: "a", count: 101)) == [100])
    #expect(ids("∑∫√") == [100])
    let hundred = String(repeating: "ab", count: 50)
    #expect(ids(hundred) != [100])
  }

  @Test("truncation keeps [CLS] + 254 pieces + [SEP]; batches pad with [PAD] and mask 0")
  func truncationAndPadding() throws {
    let long = String(repeating: "word ", count: 300)
    let e = Self.tokenizer.encode(long)
    #expect(e.ids.count == 256 && e.truncated && e.ids.first == 101 && e.ids.last == 102)
    let batch = Self.tokenizer.batch(["Hello, World!", ""])
    #expect(batch.ids == [[101, 7592, 1010, 2088, 999, 102], [101, 102, 0, 0, 0, 0]])
    #expect(batch.attentionMask == [[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]])
    let packed = batch.packed
    #expect(packed.shape == [2, 2, 6])
    #expect(Array(packed.scalars[0..<6]) == [101, 7592, 1010, 2088, 999, 102])
    #expect(Array(packed.scalars[18..<24]) == [1, 1, 0, 0, 0, 0])
  }

  @Test("bad tokenizer files are descriptive errors")
  func errors() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qatkit-tok-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    #expect(throws: TransformersError.self) { try BertTokenizer(directory: dir) }
    try "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nhello\n".write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
    #expect(throws: TransformersError.self) { try BertTokenizer(directory: dir) }
    try "[PAD]\n[UNK]\n[SEP]\nhello\n".write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
    do {
      _ = try BertTokenizer(directory: dir)
      Issue.record("a vocabulary without [CLS] was accepted")
    } catch let e as TransformersError {
      #expect(e.description.contains("[CLS]"))
    }
    try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n".write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
    try #"{"do_lower_case": "yes"}"#.write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
    do {
      _ = try BertTokenizer(directory: dir)
      Issue.record("do_lower_case: \"yes\" was accepted")
    } catch let e as TransformersError {
      #expect(e.description.contains("do_lower_case"))
    }
  }
}
