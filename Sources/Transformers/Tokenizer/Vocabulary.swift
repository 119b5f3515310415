import Foundation

/// A WordPiece vocabulary: token strings and their ids (the line number in `vocab.txt`).
///
/// Tokens are compared by their exact UTF-8 bytes, as HuggingFace `tokenizers` does, not by
/// Swift's canonical string equivalence (`"é"` and `"e\u{301}"` are different tokens).
public struct Vocabulary: Sendable {
  /// The tokens in id order.
  public let tokens: [String]
  private let ids: [[UInt8]: Int]

  /// Creates a vocabulary from tokens in id order.
  ///
  /// - Throws: ``TransformersError/malformedFile(path:reason:)`` for an empty list or a
  ///   token that appears twice (its two ids would be ambiguous).
  public init(tokens: [String], source: String = "vocabulary") throws {
    guard !tokens.isEmpty else { throw TransformersError.malformedFile(path: source, reason: "no tokens") }
    var ids: [[UInt8]: Int] = [:]
    ids.reserveCapacity(tokens.count)
    for (i, t) in tokens.enumerated() {
      if let first = ids.updateValue(i, forKey: Array(t.utf8)) {
        throw TransformersError.malformedFile(
          path: source, reason: "token '\(t)' appears on lines \(first + 1) and \(i + 1); each token must be unique")
      }
    }
    self.tokens = tokens
    self.ids = ids
  }

  /// Reads `vocab.txt`: one token per line, line `n` (from 0) is id `n`; trailing `\r` and
  /// spaces are dropped, as `tokenizers` does; a final empty line is ignored.
  ///
  /// - Throws: ``TransformersError`` when the file is missing, not UTF-8, empty or has
  ///   duplicate tokens.
  public init(contentsOf url: URL) throws {
    guard let data = FileManager.default.contents(atPath: url.path) else {
      throw TransformersError.missingFile(path: url.path, hint: "a BERT model directory has vocab.txt next to config.json")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw TransformersError.malformedFile(path: url.path, reason: "not UTF-8 text")
    }
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
      var s = Substring(line)
      while let last = s.unicodeScalars.last, last == "\r" || last == " " || last == "\t" { s = s.dropLast() }
      return String(s)
    }
    if lines.last == "" { lines.removeLast() }
    try self.init(tokens: lines, source: url.path)
  }

  /// Number of tokens.
  public var count: Int { tokens.count }

  /// The id of the token with exactly these UTF-8 bytes.
  public func id(utf8 bytes: [UInt8]) -> Int? { ids[bytes] }

  /// The id of `token` (exact bytes).
  public func id(_ token: String) -> Int? { ids[Array(token.utf8)] }

  /// The id of a special token that must exist.
  ///
  /// - Throws: ``TransformersError/invalidConfig(file:key:reason:)`` naming the token.
  func requiredID(_ token: String, role: String) throws -> Int {
    guard let id = id(token) else {
      throw TransformersError.invalidConfig(
        file: "vocab.txt", key: role, reason: "the special token '\(token)' is not in the vocabulary")
    }
    return id
  }
}
