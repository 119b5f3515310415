/// Per-feature standardization `(x - mean) / std`, computed in `Float` as scikit-learn's
/// `StandardScaler.transform` does on a float32 array: `Float(x - mean) / std`.
///
/// Fit it on the training samples only and apply it to both parts, so no statistic of the
/// test samples leaks into training:
///
/// ```swift
/// let (rawTrain, rawTest) = try data.split(testFraction: 0.2, seed: 0)
/// let scaler = Standardizer(fitting: rawTrain)
/// let (train, test) = (try scaler.transform(rawTrain), try scaler.transform(rawTest))
/// ```
///
/// Sample shapes and label names are kept.
public struct Standardizer: Sendable, Codable, Equatable {
  /// Per-feature means.
  public let mean: [Float]
  /// Per-feature standard deviations (1 where the variance is 0).
  public let std: [Float]

  /// Uses given statistics.
  public init(mean: [Float], std: [Float]) throws {
    guard mean.count == std.count else { throw DataError.shape("\(mean.count) means, \(std.count) stds") }
    self.mean = mean
    self.std = std
  }

  /// Fits on a dataset: mean and population standard deviation (ddof 0) in `Double`, 1 where
  /// the variance is 0, rounded to `Float`.
  public init(fitting data: Dataset) {
    let d = data.featureCount, n = Double(Swift.max(data.count, 1))
    var m = [Double](repeating: 0, count: d), v = [Double](repeating: 0, count: d)
    for i in 0..<data.count { for j in 0..<d { m[j] += Double(data.features[i * d + j]) } }
    for j in 0..<d { m[j] /= n }
    for i in 0..<data.count { for j in 0..<d { let e = Double(data.features[i * d + j]) - m[j]; v[j] += e * e } }
    mean = m.map { Float($0) }
    std = v.map { $0 / n == 0 ? 1 : Float(($0 / n).squareRoot()) }
  }

  /// The standardized copy of `data`.
  ///
  /// - Throws: ``DataError/shape(_:)`` when the feature counts differ.
  public func transform(_ data: Dataset) throws -> Dataset {
    let d = data.featureCount
    guard d == mean.count else { throw DataError.shape("standardizer has \(mean.count) features, data \(d)") }
    var out = data.features
    for i in 0..<data.count { for j in 0..<d { out[i * d + j] = (out[i * d + j] - mean[j]) / std[j] } }
    return try data.replacingFeatures(out)
  }
}
