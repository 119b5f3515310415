/// BERT's text normalizer, exactly as HuggingFace `tokenizers`' `BertNormalizer`:
///
/// 1. clean text: drop U+0000, U+FFFD and "other" characters (Unicode categories Cc, Cf, Cn,
///    Co, Cs, except tab, newline and carriage return); map every white-space character
///    (Unicode White_Space, plus tab/newline/CR) to a space;
/// 2. put spaces around CJK ideographs (so each becomes its own word);
/// 3. strip accents: canonical decomposition (NFD), then drop nonspacing marks (Mn);
/// 4. lower-case with Unicode's full, context-free lower-case mapping.
///
/// Accents are stripped when `stripAccents` is `true`, or when it is `nil` and `lowercase`
/// is `true` (the uncased models' default), as in `tokenizers`.
public struct BertNormalizer: Sendable, Hashable {
  /// Step 1.
  public var cleanText: Bool
  /// Step 2.
  public var handleChineseChars: Bool
  /// Step 3: `nil` follows ``lowercase``.
  public var stripAccents: Bool?
  /// Step 4.
  public var lowercase: Bool

  /// Creates a normalizer; the defaults are those of uncased BERT.
  public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
    self.cleanText = cleanText
    self.handleChineseChars = handleChineseChars
    self.stripAccents = stripAccents
    self.lowercase = lowercase
  }

  /// The normalized text.
  public func normalize(_ text: String) -> String {
    var scalars = Array(text.unicodeScalars)
    if cleanText {
      scalars = scalars.compactMap { c in
        if c.value == 0 || c.value == 0xFFFD || Self.isControl(c) { return nil }
        return Self.isWhitespace(c) ? " " : c
      }
    }
    if handleChineseChars {
      var out: [Unicode.Scalar] = []
      out.reserveCapacity(scalars.count)
      for c in scalars {
        if Self.isChineseChar(c) {
          out += [" ", c, " "]
        } else {
          out.append(c)
        }
      }
      scalars = out
    }
    if stripAccents ?? lowercase {
      scalars = Self.decomposed(scalars).filter { $0.properties.generalCategory != .nonspacingMark }
    }
    if lowercase {
      scalars = scalars.flatMap { c -> [Unicode.Scalar] in
        // ASCII fast path; otherwise Unicode's full lower-case mapping (may be several scalars).
        if c.isASCII { return [c.value >= 65 && c.value <= 90 ? Unicode.Scalar(c.value + 32)! : c] }
        return Array(c.properties.lowercaseMapping.unicodeScalars)
      }
    }
    var s = String.UnicodeScalarView()
    s.append(contentsOf: scalars)
    return String(s)
  }

  /// Tab, newline and carriage return, or Unicode White_Space (Rust's `char::is_whitespace`).
  static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
    c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace
  }

  /// Unicode "other" (Cc, Cf, Cn, Co, Cs), except tab, newline and carriage return.
  static func isControl(_ c: Unicode.Scalar) -> Bool {
    if c == "\t" || c == "\n" || c == "\r" { return false }
    switch c.properties.generalCategory {
    case .control, .format, .unassigned, .privateUse, .surrogate: return true
    default: return false
    }
  }

  /// The CJK Unified Ideographs blocks BERT treats as words of their own.
  static func isChineseChar(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
      0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
      return true
    default:
      return false
    }
  }

  /// Canonical decomposition (NFD) of a scalar sequence.
  static func decomposed(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
    if scalars.allSatisfy(\.isASCII) { return scalars }
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return Array(UnicodeNormalization.nfd(String(view)).unicodeScalars)
  }
}
