/// A shell-style wildcard pattern over quantizer paths, with Python `fnmatch` semantics as
/// ModelOpt uses them: `*` matches any run of characters (dots included), `?` one character,
/// `[abc]` / `[a-z]` one character of a set, `[!abc]` one character not in it. Everything
/// else matches itself; matching is case-sensitive and covers the whole path.
///
/// ```swift
/// WildcardPattern("*weight_quantizer").matches("fc1.weight_quantizer")   // true
/// WildcardPattern("layers.[01].*").matches("layers.1.input_quantizer")  // true
/// ```
public struct WildcardPattern: Hashable, Sendable, Codable, CustomStringConvertible {
  /// The pattern text.
  public let text: String

  /// Wraps `text`.
  public init(_ text: String) { self.text = text }

  /// Decodes from a JSON string.
  public init(from decoder: any Decoder) throws {
    text = try decoder.singleValueContainer().decode(String.self)
  }

  /// Encodes as a JSON string.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(text)
  }

  /// The pattern text.
  public var description: String { text }

  /// Whether the pattern matches the whole of `path`.
  public func matches(_ path: String) -> Bool {
    Self.match(Array(text.unicodeScalars), Array(path.unicodeScalars))
  }

  /// Iterative glob matching with single-star backtracking (linear in practice).
  private static func match(_ p: [Unicode.Scalar], _ s: [Unicode.Scalar]) -> Bool {
    var pi = 0, si = 0
    var starP = -1, starS = 0
    while si < s.count {
      if pi < p.count {
        switch p[pi] {
        case "*":
          starP = pi
          starS = si
          pi += 1
          continue
        case "?":
          pi += 1
          si += 1
          continue
        case "[":
          if let (matched, next) = matchSet(p, pi, s[si]) {
            if matched {
              pi = next
              si += 1
              continue
            }
          } else if p[pi] == s[si] {
            // An unterminated `[` is a literal, as in fnmatch.
            pi += 1
            si += 1
            continue
          }
        default:
          if p[pi] == s[si] {
            pi += 1
            si += 1
            continue
          }
        }
      }
      guard starP >= 0 else { return false }
      pi = starP + 1
      starS += 1
      si = starS
    }
    while pi < p.count, p[pi] == "*" { pi += 1 }
    return pi == p.count
  }

  /// Matches `c` against the set starting at `p[start] == "["`; returns whether it matched and
  /// the index after `]`, or `nil` when the set is not terminated.
  private static func matchSet(_ p: [Unicode.Scalar], _ start: Int, _ c: Unicode.Scalar) -> (Bool, Int)? {
    var i = start + 1
    var negate = false
    if i < p.count, p[i] == "!" {
      negate = true
      i += 1
    }
    var matched = false
    var first = true
    while i < p.count {
      if p[i] == "]", !first { return (matched != negate, i + 1) }
      first = false
      if i + 2 < p.count, p[i + 1] == "-", p[i + 2] != "]" {
        if p[i].value <= c.value && c.value <= p[i + 2].value { matched = true }
        i += 3
      } else {
        if p[i] == c { matched = true }
        i += 1
      }
    }
    return nil
  }
}
