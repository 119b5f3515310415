extension Architecture {
  /// The shape of one output sample for input samples of `shape` (batch dimension left out),
  /// checking every layer against the shape it receives.
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` naming the layer's key path and the
  ///   mismatch (e.g. `layers[7]: Linear expects 64 input features, gets 128`).
  public func outputShape(forSample shape: [Int]) throws -> [Int] {
    try Self.shape(after: layers, input: shape, path: "layers")
  }

  private static func shape(after nodes: [Node], input: [Int], path: String) throws -> [Int] {
    try checkSampleSize(input, path: path, what: "the input sample")
    var s = input
    for (i, node) in nodes.enumerated() {
      s = try shape(of: node.layer, input: s, path: "\(path)[\(i)]")
      try checkSampleSize(s, path: "\(path)[\(i)]", what: "its output sample")
    }
    return s
  }

  /// Checks that a sample of `shape` has at most ``maxSampleElements`` elements (overflow-checked).
  private static func checkSampleSize(_ shape: [Int], path: String, what: String) throws {
    var n = 1
    for d in shape {
      let (p, overflow) = n.multipliedReportingOverflow(by: Swift.max(d, 0))
      guard !overflow, p <= maxSampleElements else {
        throw ConfigError.invalidValue(
          "architecture", path: path,
          "\(what) \(shape) has more than \(maxSampleElements) elements (1 GiB per sample); check the layer sizes")
      }
      n = p
    }
  }

  private static func shape(of layer: Layer, input s: [Int], path: String) throws -> [Int] {
    func fail(_ message: String) -> ConfigError {
      ConfigError.invalidValue("architecture", path: path, message + " (input sample shape \(s))")
    }
    switch layer {
    case .linear(let i, let o, _):
      guard let last = s.last, last == i else { throw fail("Linear expects \(i) input features on the last axis, gets \(s.last ?? 0)") }
      return s.dropLast() + [o]
    case .conv2d(let i, let o, let k, let stride, let p, _):
      guard s.count == 3 else { throw fail("Conv2d expects samples [C, H, W]") }
      guard s[0] == i else { throw fail("Conv2d expects \(i) input channels, gets \(s[0])") }
      // p comes from the file: padded sizes are computed with overflow checks.
      guard p <= maxSampleElements else { throw fail("Conv2d padding \(p) is larger than any sample may be") }
      let h = (s[1] + 2 * p - k), w = (s[2] + 2 * p - k)
      guard h >= 0, w >= 0 else { throw fail("Conv2d kernel \(k) is larger than the padded input \(s[1] + 2 * p)x\(s[2] + 2 * p)") }
      return [o, h / stride + 1, w / stride + 1]
    case .maxPool2d(let k, let stride), .avgPool2d(let k, let stride):
      guard s.count == 3 else { throw fail("pooling expects samples [C, H, W]") }
      guard k <= s[1], k <= s[2] else { throw fail("pooling window \(k) is larger than the input \(s[1])x\(s[2])") }
      return [s[0], (s[1] - k) / stride + 1, (s[2] - k) / stride + 1]
    case .flatten(let start):
      // `start` counts the batch dimension; per sample it is start - 1.
      let from = start - 1
      guard from < s.count else { throw fail("Flatten start_dim \(start) is beyond the input's rank") }
      return Array(s[..<from]) + [s[from...].reduce(1, *)]
    case .reshape(let shape):
      guard let out = Reshape(shape).sampleShape(forCount: s.reduce(1, *)) else {
        throw fail("Reshape to \(shape) does not fit \(s.reduce(1, *)) values")
      }
      return out
    case .relu, .gelu, .silu, .tanh, .sigmoid, .dropout:
      return s
    case .layerNorm(let d, _):
      guard s.last == d else { throw fail("LayerNorm normalizes \(d) features on the last axis, gets \(s.last ?? 0)") }
      return s
    case .batchNorm(let c, _, let spatial):
      guard spatial ? s.count == 3 : (s.count == 1 || s.count == 2) else {
        throw fail(spatial ? "BatchNorm2d expects samples [C, H, W]" : "BatchNorm1d expects samples [C] or [C, L]")
      }
      guard s[0] == c else { throw fail("BatchNorm expects \(c) channels, gets \(s[0])") }
      return s
    case .embedding(_, let d):
      return s + [d]
    case .multiHeadAttention(let d, _), .transformerEncoderBlock(let d, _, _):
      guard s.count == 2, s[1] == d else { throw fail("attention expects samples [tokens, \(d)]") }
      return s
    case .mean(let axis):
      let rank = s.count + 1
      let a = axis < 0 ? axis + rank : axis
      guard a >= 1, a < rank else { throw fail("Mean over dim \(axis) is out of range for a batched tensor of rank \(rank)") }
      var out = s
      out.remove(at: a - 1)
      return out
    case .sequential(let inner):
      return try shape(after: inner, input: s, path: "\(path).layers")
    case .residual(let inner):
      let out = try shape(after: inner, input: s, path: "\(path).layers")
      guard out == s else { throw fail("Residual body changes the shape to \(out); x + body(x) needs the same shape") }
      return s
    }
  }

  /// The first layer, following nested blocks (used to check that embedding inputs are
  /// integer indices in range).
  public var firstLayer: Layer? {
    var nodes = layers
    while let first = nodes.first {
      switch first.layer {
      case .sequential(let inner), .residual(let inner): nodes = inner
      default: return first.layer
      }
    }
    return nil
  }
}
