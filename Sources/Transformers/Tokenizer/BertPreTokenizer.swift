/// BERT's pre-tokenizer (HuggingFace `tokenizers`' `BertPreTokenizer`): splits normalized
/// text into words at white space (dropped) and around punctuation (each punctuation
/// character is a word of its own).
///
/// Punctuation is every ASCII punctuation character (`!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`, which
/// includes symbols such as `$` and `+`) and every character of a Unicode punctuation
/// category (Pc, Pd, Ps, Pe, Pi, Pf, Po). Other symbols (`©`, `∑`, emoji) stay inside words.
public struct BertPreTokenizer: Sendable, Hashable {
  /// Creates the pre-tokenizer.
  public init() {}

  /// The words of `text`, as scalar sequences.
  public func split(_ text: String) -> [[Unicode.Scalar]] {
    var words: [[Unicode.Scalar]] = []
    var current: [Unicode.Scalar] = []
    for c in text.unicodeScalars {
      if BertNormalizer.isWhitespace(c) {
        if !current.isEmpty { words.append(current); current = [] }
      } else if Self.isPunctuation(c) {
        if !current.isEmpty { words.append(current); current = [] }
        words.append([c])
      } else {
        current.append(c)
      }
    }
    if !current.isEmpty { words.append(current) }
    return words
  }

  /// ASCII punctuation or a Unicode punctuation category.
  static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
    let v = c.value
    if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
    switch c.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
      .finalPunctuation, .otherPunctuation:
      return true
    default:
      return false
    }
  }
}
