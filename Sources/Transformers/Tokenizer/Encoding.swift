import QATKit

/// One tokenized sequence: token ids with the special tokens, and how much of the input fit.
public struct Encoding: Sendable, Hashable {
  /// `[CLS] pieces… [SEP]`.
  public var ids: [Int]
  /// Whether pieces were dropped to fit the maximum length.
  public var truncated: Bool

  /// Creates an encoding.
  public init(ids: [Int], truncated: Bool = false) {
    self.ids = ids
    self.truncated = truncated
  }
}

/// Sequences padded to a common length with an attention mask: the input of a BERT model.
///
/// ``packed`` is the single tensor QATKit modules take (`Module.forward(_:)` has one input):
/// `[N, 2, T]` floats, row 0 the token ids (exact as `Float` below 2^24), row 1 the attention
/// mask (1 for tokens, 0 for padding). `BertModel` unpacks it.
public struct TokenBatch: Sendable, Hashable {
  /// Token ids `[N][T]`, padded with the pad id.
  public let ids: [[Int]]
  /// 1 for real tokens, 0 for padding, `[N][T]`.
  public let attentionMask: [[Int]]

  /// Pads `encodings` to the longest one (at least one position).
  ///
  /// - Parameters:
  ///   - encodings: The sequences.
  ///   - padID: The pad token's id (`[PAD]`, 0 for BERT).
  public init(_ encodings: [Encoding], padID: Int = 0) {
    let t = Swift.max(1, encodings.map(\.ids.count).max() ?? 0)
    ids = encodings.map { $0.ids + [Int](repeating: padID, count: t - $0.ids.count) }
    attentionMask = encodings.map { [Int](repeating: 1, count: $0.ids.count) + [Int](repeating: 0, count: t - $0.ids.count) }
  }

  /// Number of sequences.
  public var count: Int { ids.count }
  /// The padded length.
  public var length: Int { ids.first?.count ?? 0 }
  /// Number of real (non-padding) tokens.
  public var tokenCount: Int { attentionMask.reduce(0) { $0 + $1.reduce(0, +) } }

  /// `[N, 2, T]`: ids then mask, as `Float` (see the type's documentation).
  public var packed: Tensor {
    let n = count, t = length
    var values = [Float](repeating: 0, count: n * 2 * t)
    for i in 0..<n {
      for j in 0..<t {
        values[(i * 2) * t + j] = Float(ids[i][j])
        values[(i * 2 + 1) * t + j] = Float(attentionMask[i][j])
      }
    }
    return try! Tensor(values, shape: [n, 2, t])
  }
}
