/// An in-memory classification dataset: `count` samples of `featureCount` floats and an
/// integer label per sample.
///
/// Samples are stored flat (row-major) and handed out in ``sampleShape``: `[featureCount]` by
/// default, or e.g. `[1, 8, 8]` for images (``shaped(_:)``), so batches are `[N, C, H, W]`
/// tensors and a model's `forward` never reshapes. When labels came from class names (a CSV
/// with string labels), ``labelNames`` records the mapping: label `i` is `labelNames[i]`.
public struct Dataset: Sendable {
  /// Row-major features, `count × featureCount`.
  public let features: [Float]
  /// One label per sample (a class index).
  public let labels: [Int]
  /// Features per sample (the product of ``sampleShape``).
  public let featureCount: Int
  /// The shape of one sample; batches are `[n] + sampleShape`.
  public let sampleShape: [Int]
  /// Class names by label (`labelNames[label]`), when labels were mapped from names.
  public let labelNames: [String]?

  /// Creates a dataset of flat samples, checking that the sizes agree.
  ///
  /// - Throws: ``DataError/shape(_:)`` when `features.count != labels.count * featureCount`.
  public init(features: [Float], labels: [Int], featureCount: Int) throws {
    try self.init(features: features, labels: labels, sampleShape: [featureCount])
  }

  /// Creates a dataset of samples shaped `sampleShape` (e.g. `[1, 8, 8]`), with class names
  /// for the labels if they have names.
  ///
  /// - Throws: ``DataError/shape(_:)`` when the sizes disagree or a dimension is not positive;
  ///   ``DataError/label(line:_:)`` when a label has no name in `labelNames` or is
  ///   ``maxClassCount`` or more (negative labels are left for ``Training`` to report with
  ///   their row).
  public init(features: [Float], labels: [Int], sampleShape: [Int], labelNames: [String]? = nil) throws {
    guard !sampleShape.isEmpty, sampleShape.allSatisfy({ $0 > 0 }) else {
      throw DataError.shape("sample shape \(sampleShape) must have positive dimensions")
    }
    let (featureCount, overflow) = sampleShape.dropFirst().reduce((sampleShape[0], false)) { acc, d in
      let (p, o) = acc.0.multipliedReportingOverflow(by: d)
      return (p, acc.1 || o)
    }
    let (expected, countOverflow) = labels.count.multipliedReportingOverflow(by: featureCount)
    guard !overflow, !countOverflow, features.count == expected else {
      throw DataError.shape("\(features.count) features for \(labels.count) samples of shape \(sampleShape)")
    }
    if let bad = labels.first(where: { $0 >= Self.maxClassCount }) {
      throw DataError.label(line: nil, "label \(bad) is not a class index: at most \(Self.maxClassCount) classes (labels 0..<\(Self.maxClassCount))")
    }
    if let labelNames, let bad = labels.first(where: { !labelNames.indices.contains($0) }) {
      throw DataError.label(line: nil, "label \(bad) has no name among \(labelNames.count) classes")
    }
    self.features = features
    self.labels = labels
    self.featureCount = featureCount
    self.sampleShape = sampleShape
    self.labelNames = labelNames
  }

  /// The most classes a dataset may have (labels `0..<maxClassCount`): 2^24. A label is
  /// user input; `1e18` would otherwise ask for a model with that many outputs, and `Int.max`
  /// would overflow ``classCount``.
  public static let maxClassCount = 1 << 24

  /// Number of samples.
  public var count: Int { labels.count }

  /// The number of classes: the names recorded, else the largest label plus one.
  public var classCount: Int { labelNames?.count ?? ((labels.max() ?? -1) + 1) }

  /// The same samples viewed with another per-sample shape of the same size, e.g. flat
  /// 64-pixel rows as `[1, 8, 8]` images.
  ///
  /// - Throws: ``DataError/shape(_:)`` when the shape's size is not ``featureCount``.
  public func shaped(_ shape: [Int]) throws -> Dataset {
    guard shape.allSatisfy({ $0 > 0 }), shape.reduce(1, *) == featureCount else {
      throw DataError.shape(
        "cannot view samples of \(featureCount) features as \(shape) (\(shape.reduce(1, *)) values); "
          + "the product of the input shape must equal the number of feature columns")
    }
    return try Dataset(features: features, labels: labels, sampleShape: shape, labelNames: labelNames)
  }

  /// The same samples with other features (same count and shape), e.g. after scaling.
  package func replacingFeatures(_ newFeatures: [Float]) throws -> Dataset {
    try Dataset(features: newFeatures, labels: labels, sampleShape: sampleShape, labelNames: labelNames)
  }

  /// Samples `indices` as an `[n] + sampleShape` tensor and their labels.
  public func batch(_ indices: some Collection<Int>) -> (inputs: Tensor, labels: [Int]) {
    var x = [Float](repeating: 0, count: indices.count * featureCount)
    var y: [Int] = []
    y.reserveCapacity(indices.count)
    let d = featureCount
    features.withUnsafeBufferPointer { f in
      x.withUnsafeMutableBufferPointer { out in
        for (k, i) in indices.enumerated() {
          for j in 0..<d { out[k * d + j] = f[i * d + j] }
          y.append(labels[i])
        }
      }
    }
    return (Tensor(shape: [indices.count] + sampleShape, storage: x), y)
  }

  /// All samples as one batch.
  public var all: (inputs: Tensor, labels: [Int]) { batch(0..<count) }

  /// Mini-batches of `size` samples; shuffled with a seeded permutation when `seed` is given.
  /// The last batch may be smaller.
  ///
  /// - Throws: ``DataError/invalidBatchSize(_:)`` unless `size >= 1`.
  public func batches(size: Int, seed: UInt64? = nil) throws -> [(inputs: Tensor, labels: [Int])] {
    guard size > 0 else { throw DataError.invalidBatchSize(size) }
    var order = Array(0..<count)
    if let seed {
      var rng = RandomGenerator(seed: seed)
      order = rng.permutation(count)
    }
    return stride(from: 0, to: count, by: size).map { batch(order[$0..<Swift.min($0 + size, count)]) }
  }

  /// The first `n` samples.
  public func prefix(_ n: Int) -> Dataset {
    let k = Swift.min(n, count)
    // Sizes agree by construction.
    return try! Dataset(
      features: Array(features[0..<(k * featureCount)]), labels: Array(labels[0..<k]), sampleShape: sampleShape,
      labelNames: labelNames)
  }
}

/// Errors from loading or shaping data; each names what is wrong and where.
public enum DataError: Error, Equatable, CustomStringConvertible {
  /// Sizes that do not agree.
  case shape(String)
  /// A CSV that cannot be parsed: line (1-based) and reason.
  case csv(line: Int, String)
  /// A file or bundled resource that cannot be found or read.
  case resource(String)
  /// A CSV without a header or without data rows.
  case empty(String)
  /// A column that the header does not have; lists the columns it has.
  case missingColumn(String, available: [String])
  /// A data row with a different number of fields than the header.
  case raggedRow(line: Int, fields: Int, expected: Int)
  /// A feature cell that is not a finite number.
  case notANumber(line: Int, column: String, value: String)
  /// A label that cannot be used (line, when it came from a file).
  case label(line: Int?, String)
  /// A batch size below 1.
  case invalidBatchSize(Int)
  /// A negative number of epochs.
  case invalidEpochCount(Int)
  /// A label outside the model's classes `0..<classes` (0-based row of the data set).
  case labelOutOfRange(row: Int, label: Int, classes: Int)

  /// The 1-based line of a CSV problem, if the error has one.
  public var line: Int? {
    switch self {
    case .csv(let l, _), .raggedRow(let l, _, _), .notANumber(let l, _, _): l
    case .label(let l, _): l
    default: nil
    }
  }

  /// A message naming the problem and what to do.
  public var description: String {
    switch self {
    case .shape(let m): "data shape: \(m)"
    case .csv(let line, let m): "CSV line \(line): \(m)"
    case .resource(let m): "resource: \(m)"
    case .empty(let m): "empty data: \(m)"
    case .missingColumn(let name, let available):
      "no column '\(name)' in the header"
        + (ParsingHelp.nearest(name, in: available).map { " (did you mean '\($0)'?)" } ?? "")
        + "; columns: \(available.joined(separator: ", "))"
    case .raggedRow(let line, let fields, let expected):
      "CSV line \(line): \(fields) fields, the header has \(expected); every row needs one value per column"
    case .notANumber(let line, let column, let value):
      "CSV line \(line): '\(value)' in column '\(column)' is not a finite number; feature columns must be numeric "
        + "(ignore a column or fix the cell)"
    case .label(let line, let m): (line.map { "CSV line \($0): " } ?? "") + "label: \(m)"
    case .invalidBatchSize(let n): "batch size must be at least 1, got \(n)"
    case .invalidEpochCount(let n): "the number of epochs must be at least 0, got \(n)"
    case .labelOutOfRange(let row, let label, let classes):
      "row \(row) has label \(label), but the model has \(classes) classes (labels 0..<\(classes)); check the label column and the model's output size"
    }
  }
}

/// Small helpers for messages that suggest the nearest valid name.
package enum ParsingHelp {
  /// The closest of `known` to `name` when it is close enough to be a typo.
  package static func nearest(_ name: String, in known: some Sequence<String>) -> String? {
    known.min { editDistance($0, name) < editDistance($1, name) }
      .flatMap { editDistance($0, name) <= Swift.max(2, name.count / 3) ? $0 : nil }
  }
}
