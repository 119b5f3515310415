/// An in-memory classification dataset: `count` rows of `featureCount` floats and an integer
/// label per row.
public struct Dataset: Sendable {
  /// Row-major features, `count × featureCount`.
  public let features: [Float]
  /// One label per row.
  public let labels: [Int]
  /// Features per row.
  public let featureCount: Int

  /// Creates a dataset, checking that the sizes agree.
  ///
  /// - Throws: ``DataError/shape(_:)`` when `features.count != labels.count * featureCount`.
  public init(features: [Float], labels: [Int], featureCount: Int) throws {
    guard featureCount > 0, features.count == labels.count * featureCount else {
      throw DataError.shape("\(features.count) features for \(labels.count) rows of \(featureCount)")
    }
    self.features = features
    self.labels = labels
    self.featureCount = featureCount
  }

  /// Number of rows.
  public var count: Int { labels.count }

  /// Rows `indices` as a `[n, featureCount]` tensor and their labels.
  public func batch(_ indices: some Collection<Int>) -> (inputs: Tensor, labels: [Int]) {
    var x = [Float](repeating: 0, count: indices.count * featureCount)
    var y: [Int] = []
    y.reserveCapacity(indices.count)
    features.withUnsafeBufferPointer { f in
      for (k, i) in indices.enumerated() {
        for j in 0..<featureCount { x[k * featureCount + j] = f[i * featureCount + j] }
        y.append(labels[i])
      }
    }
    return (Tensor(shape: [indices.count, featureCount], storage: x), y)
  }

  /// All rows as one batch.
  public var all: (inputs: Tensor, labels: [Int]) { batch(0..<count) }

  /// Mini-batches of `size` rows; shuffled with a seeded permutation when `seed` is given.
  /// The last batch may be smaller.
  public func batches(size: Int, seed: UInt64? = nil) -> [(inputs: Tensor, labels: [Int])] {
    precondition(size > 0, "batch size must be positive")
    var order = Array(0..<count)
    if let seed {
      var rng = RandomGenerator(seed: seed)
      order = rng.permutation(count)
    }
    return stride(from: 0, to: count, by: size).map { batch(order[$0..<Swift.min($0 + size, count)]) }
  }

  /// The first `n` rows.
  public func prefix(_ n: Int) -> Dataset {
    let k = Swift.min(n, count)
    // Sizes agree by construction.
    return try! Dataset(features: Array(features[0..<(k * featureCount)]), labels: Array(labels[0..<k]), featureCount: featureCount)
  }
}

/// Errors from loading or shaping data.
public enum DataError: Error, Equatable, CustomStringConvertible {
  /// Sizes that do not agree.
  case shape(String)
  /// A CSV that cannot be parsed: line (1-based) and reason.
  case csv(line: Int, String)
  /// A bundled resource that cannot be found or read.
  case resource(String)

  /// A message naming the problem.
  public var description: String {
    switch self {
    case .shape(let m): "data shape: \(m)"
    case .csv(let line, let m): "CSV line \(line): \(m)"
    case .resource(let m): "resource: \(m)"
    }
  }
}
