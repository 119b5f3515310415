/// A layer whose output channels (the last axis) can be multiplied by constant factors by
/// changing its parameters alone: the producer side of a ``ScaleFold``.
public protocol ChannelScalable: AnyObject {
  /// The number of output channels.
  var outputChannelCount: Int { get }
  /// Changes the parameters so that every output `y` becomes `y ⊙ factors` (per channel of the
  /// last axis), in place.
  ///
  /// - Throws: ``QuantizerError/stateMismatch(_:)`` when `factors` has the wrong count or a
  ///   factor that is not finite.
  func scaleOutputChannels(by factors: [Float]) throws
}

extension ChannelScalable {
  /// Checks `factors` against the channel count.
  func checkFactors(_ factors: [Float]) throws {
    guard factors.count == outputChannelCount else {
      throw QuantizerError.stateMismatch("\(factors.count) channel factors for \(outputChannelCount) output channels")
    }
    if let bad = factors.first(where: { !$0.isFinite }) {
      throw QuantizerError.stateMismatch("channel factor \(bad) is not finite")
    }
  }
}

extension Linear: ChannelScalable {
  /// `outFeatures`.
  public var outputChannelCount: Int { outFeatures }

  /// Multiplies weight row `j` and bias `j` by `factors[j]`.
  public func scaleOutputChannels(by factors: [Float]) throws {
    try checkFactors(factors)
    let k = inFeatures
    weight.withUnsafeMutableBufferPointer { w in
      for j in 0..<factors.count {
        let f = factors[j]
        for i in (j * k)..<((j + 1) * k) { w[i] *= f }
      }
    }
    bias?.withUnsafeMutableBufferPointer { b in
      for j in 0..<factors.count { b[j] *= factors[j] }
    }
  }
}

extension LayerNorm: ChannelScalable {
  /// The normalized dimension.
  public var outputChannelCount: Int { weight.count }

  /// Multiplies γ and β of channel `j` by `factors[j]`.
  public func scaleOutputChannels(by factors: [Float]) throws {
    try checkFactors(factors)
    weight.withUnsafeMutableBufferPointer { g in for j in 0..<factors.count { g[j] *= factors[j] } }
    bias.withUnsafeMutableBufferPointer { b in for j in 0..<factors.count { b[j] *= factors[j] } }
  }
}
