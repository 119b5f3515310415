import Foundation

/// BERT's WordPiece tokenizer, the `BertTokenizerFast` pipeline of HuggingFace `tokenizers`:
/// ``BertNormalizer`` → ``BertPreTokenizer`` → ``WordPiece`` → `[CLS] … [SEP]`, truncated to
/// ``maxLength`` ids (special tokens included), padded per batch with an attention mask.
///
/// ```swift
/// let tokenizer = try BertTokenizer(directory: modelDirectory)
/// let batch = tokenizer.batch(["Hello, World!", "A second sentence."])
/// let embeddings = model(batch.packed)
/// ```
public struct BertTokenizer: Sendable {
  /// Text normalization.
  public let normalizer: BertNormalizer
  /// Word splitting.
  public let preTokenizer: BertPreTokenizer
  /// Piece splitting.
  public let wordPiece: WordPiece
  /// `[CLS]`, `[SEP]` and `[PAD]` ids.
  public let clsID: Int, sepID: Int, padID: Int
  /// Longest encoding, special tokens included (256 for all-MiniLM-L6-v2).
  public let maxLength: Int

  /// Creates a tokenizer from its parts.
  ///
  /// - Throws: ``TransformersError`` when a special token is missing from the vocabulary or
  ///   `maxLength` is below 2.
  public init(
    vocabulary: Vocabulary, normalizer: BertNormalizer = BertNormalizer(), maxLength: Int = 256,
    unknownToken: String = "[UNK]", clsToken: String = "[CLS]", sepToken: String = "[SEP]", padToken: String = "[PAD]"
  ) throws {
    guard maxLength >= 2 else {
      throw TransformersError.invalidInput("maxLength \(maxLength) leaves no room for [CLS] and [SEP]; use at least 2")
    }
    self.normalizer = normalizer
    preTokenizer = BertPreTokenizer()
    wordPiece = try WordPiece(vocabulary: vocabulary, unknownToken: unknownToken)
    clsID = try vocabulary.requiredID(clsToken, role: "cls_token")
    sepID = try vocabulary.requiredID(sepToken, role: "sep_token")
    padID = try vocabulary.requiredID(padToken, role: "pad_token")
    self.maxLength = maxLength
  }

  /// Loads `vocab.txt` and, when present, `tokenizer_config.json` (`do_lower_case`,
  /// `strip_accents`, `tokenize_chinese_chars` and the special tokens) from a model
  /// directory.
  ///
  /// - Parameters:
  ///   - directory: The HuggingFace model directory.
  ///   - maxLength: Truncation length (sentence-transformers' `max_seq_length`; 256 for
  ///     all-MiniLM-L6-v2, read from `sentence_bert_config.json` when present).
  /// - Throws: ``TransformersError`` for missing or malformed files and wrong value types.
  public init(directory: URL, maxLength: Int? = nil) throws {
    let vocab = try Vocabulary(contentsOf: directory.appendingPathComponent("vocab.txt"))
    var normalizer = BertNormalizer()
    var special = ["unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]"]
    let configURL = directory.appendingPathComponent("tokenizer_config.json")
    if FileManager.default.fileExists(atPath: configURL.path) {
      let json = try JSONFile(configURL)
      if let v = try json.bool("do_lower_case") { normalizer.lowercase = v }
      if json.has("strip_accents") { normalizer.stripAccents = try json.bool("strip_accents") }
      if let v = try json.bool("tokenize_chinese_chars") { normalizer.handleChineseChars = v }
      for key in special.keys {
        if let v = try json.string(key) { special[key] = v }
      }
    }
    var length = maxLength ?? 512
    let stURL = directory.appendingPathComponent("sentence_bert_config.json")
    if maxLength == nil, FileManager.default.fileExists(atPath: stURL.path) {
      if let v = try JSONFile(stURL).int("max_seq_length") { length = v }
    }
    try self.init(
      vocabulary: vocab, normalizer: normalizer, maxLength: length, unknownToken: special["unk_token"]!,
      clsToken: special["cls_token"]!, sepToken: special["sep_token"]!, padToken: special["pad_token"]!)
  }

  /// The word-piece ids of `text`, without special tokens or truncation.
  public func pieces(_ text: String) -> [Int] {
    preTokenizer.split(normalizer.normalize(text)).flatMap { wordPiece.tokenize($0) }
  }

  /// `[CLS] pieces [SEP]`, truncated to ``maxLength`` ids.
  public func encode(_ text: String) -> Encoding {
    let p = pieces(text)
    let room = maxLength - 2
    return Encoding(ids: [clsID] + p.prefix(room) + [sepID], truncated: p.count > room)
  }

  /// Encodes `texts` and pads them to the longest.
  public func batch(_ texts: [String]) -> TokenBatch {
    TokenBatch(texts.map(encode), padID: padID)
  }
}
