/// Greedy longest-match-first WordPiece (HuggingFace `tokenizers`' `WordPiece` model).
///
/// A word is cut from the left into the longest pieces found in the vocabulary; every piece
/// after the first carries the continuation prefix (`##`). A word longer than
/// ``maxInputCharsPerWord`` characters (Unicode scalars), or one with any part that matches
/// nothing, becomes the single unknown token.
public struct WordPiece: Sendable {
  /// The vocabulary.
  public let vocabulary: Vocabulary
  /// The id of the unknown token (`[UNK]`).
  public let unknownID: Int
  /// The prefix of continuation pieces.
  public let continuationPrefix: String
  /// Longer words become the unknown token.
  public let maxInputCharsPerWord: Int

  /// Creates the model.
  ///
  /// - Throws: ``TransformersError`` when the unknown token is not in the vocabulary.
  public init(
    vocabulary: Vocabulary, unknownToken: String = "[UNK]", continuationPrefix: String = "##",
    maxInputCharsPerWord: Int = 100
  ) throws {
    self.vocabulary = vocabulary
    unknownID = try vocabulary.requiredID(unknownToken, role: "unk_token")
    self.continuationPrefix = continuationPrefix
    self.maxInputCharsPerWord = maxInputCharsPerWord
  }

  /// The ids of one word's pieces.
  public func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
    if word.count > maxInputCharsPerWord { return [unknownID] }
    // UTF-8 bytes of each scalar, so pieces are looked up by exact bytes.
    let utf8 = word.map { Array(String(Character($0)).utf8) }
    let prefix = Array(continuationPrefix.utf8)
    var ids: [Int] = []
    var start = 0
    while start < word.count {
      var end = word.count
      var found: Int?
      while start < end {
        var key = start > 0 ? prefix : []
        for i in start..<end { key += utf8[i] }
        if let id = vocabulary.id(utf8: key) {
          found = id
          break
        }
        end -= 1
      }
      guard let id = found else { return [unknownID] }
      ids.append(id)
      start = end
    }
    return ids
  }
}
