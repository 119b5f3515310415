extension Dataset {
  /// Splits into training and test samples, stratified by label and seeded: each class
  /// contributes `round(testFraction × its count)` samples to the test set (at least one when
  /// it has two or more), chosen by a seeded permutation, so class proportions match in both
  /// parts and the same seed gives the same split on every machine. Samples keep their
  /// original order within each part.
  ///
  /// - Parameters:
  ///   - testFraction: The share of samples for testing, in `(0, 1)`.
  ///   - seed: Seeds the permutation.
  ///   - stratified: `false` draws the test samples from all samples at once.
  /// - Throws: ``DataError/shape(_:)`` for a fraction outside `(0, 1)` or when either part
  ///   would be empty.
  public func split(testFraction: Double, seed: UInt64 = 0, stratified: Bool = true) throws -> (train: Dataset, test: Dataset) {
    guard testFraction > 0, testFraction < 1 else {
      throw DataError.shape("test fraction \(testFraction) must be between 0 and 1 (e.g. 0.2)")
    }
    var rng = RandomGenerator(seed: seed)
    var test: [Int] = []
    let groups: [[Int]]
    if stratified {
      var byClass: [Int: [Int]] = [:]
      for (i, y) in labels.enumerated() { byClass[y, default: []].append(i) }
      groups = byClass.keys.sorted().map { byClass[$0]! }
    } else {
      groups = [Array(0..<count)]
    }
    for members in groups {
      var k = Int((testFraction * Double(members.count)).rounded())
      if members.count >= 2 { k = Swift.min(Swift.max(k, 1), members.count - 1) } else { k = 0 }
      let order = rng.permutation(members.count)
      test += order.prefix(k).map { members[$0] }
    }
    let testSet = Set(test)
    let train = (0..<count).filter { !testSet.contains($0) }
    guard !train.isEmpty, !test.isEmpty else {
      throw DataError.shape("a split of \(count) samples at test fraction \(testFraction) leaves a part empty; use more data or another fraction")
    }
    return (try subset(train), try subset(test.sorted()))
  }
}
