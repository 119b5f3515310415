extension Architecture {
  /// The most parameters and buffers ``build(seed:)`` allocates for an architecture: 2^30
  /// floats (4 GiB). An architecture file is user input; sizes such as `"in_features": 1e9`
  /// would otherwise ask for exabytes (or overflow) while the layers are created.
  public static let maxParameters = 1 << 30

  /// The most elements one sample may have at the input or after any layer (2^28 floats,
  /// 1 GiB per sample): checked by ``outputShape(forSample:)``, so a file asking for a
  /// convolution padded by 10^6 is an error, not an allocation of terabytes at the first batch.
  public static let maxSampleElements = 1 << 28

  /// The number of floats the layers allocate (weights, biases, normalization scales and
  /// running statistics), or `nil` when the count does not fit in an `Int`.
  public var parameterCount: Int? { Self.count(layers) }

  /// Checks the size against ``maxParameters``.
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` (`architecture`, key `layers`).
  func checkSize() throws {
    guard let n = parameterCount, n <= Self.maxParameters else {
      throw ConfigError.invalidValue(
        "architecture", path: "layers",
        "the layers would hold \(parameterCount.map(String.init) ?? "more than Int.max") parameters, more than \(Self.maxParameters) (4 GiB); check the layer sizes")
    }
  }

  private static func count(_ nodes: [Node]) -> Int? {
    var total = 0
    for node in nodes {
      guard let n = count(node.layer) else { return nil }
      let (s, overflow) = total.addingReportingOverflow(n)
      if overflow { return nil }
      total = s
    }
    return total
  }

  /// `a₀·a₁·… + b₀·b₁·… + …` with overflow checks.
  private static func sum(_ products: [[Int]]) -> Int? {
    var total = 0
    for factors in products {
      var p = 1
      for f in factors {
        let (q, overflow) = p.multipliedReportingOverflow(by: f)
        if overflow { return nil }
        p = q
      }
      let (s, overflow) = total.addingReportingOverflow(p)
      if overflow { return nil }
      total = s
    }
    return total
  }

  private static func count(_ layer: Layer) -> Int? {
    switch layer {
    case .linear(let i, let o, let b): sum([[i, o], [b ? o : 0]])
    case .conv2d(let i, let o, let k, _, _, let b): sum([[o, i, k, k], [b ? o : 0]])
    case .layerNorm(let d, _): sum([[2, d]])
    case .batchNorm(let c, _, _): sum([[4, c]])
    case .embedding(let v, let d): sum([[v, d]])
    case .multiHeadAttention(let d, _): sum([[4, d, d], [4, d]])
    case .transformerEncoderBlock(let d, _, let h): sum([[4, d, d], [4, d], [4, d], [2, d, h], [h], [d]])
    case .sequential(let inner), .residual(let inner): count(inner)
    case .maxPool2d, .avgPool2d, .flatten, .reshape, .relu, .gelu, .silu, .tanh, .sigmoid, .dropout, .mean: 0
    }
  }
}
