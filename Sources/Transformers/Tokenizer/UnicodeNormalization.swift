import Foundation

/// Unicode normalization forms, through Foundation (the standard library does not expose
/// them).
enum UnicodeNormalization {
  /// Canonical decomposition (NFD), with canonical ordering of combining marks.
  static func nfd(_ s: String) -> String { s.decomposedStringWithCanonicalMapping }
}
