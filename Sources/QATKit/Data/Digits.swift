import Foundation

/// The scikit-learn digits data set (1797 8×8 images, CC BY 4.0, UCI), shipped with QATKit
/// with the exact train/test split and standardization of the PyTorch + ModelOpt reference
/// runs, so results are comparable. See `Resources/DIGITS-README.md` for source and licence.
public enum Digits {
  /// The standardized train (1437 rows) and test (360 rows) sets, rows in the reference order.
  ///
  /// - Throws: ``DataError`` if the bundled resources are missing or damaged.
  public static func load() throws -> (train: Dataset, test: Dataset) {
    let all = try Dataset(contentsOf: try resource("digits", "csv"))
    guard all.count == 1797, all.featureCount == 64 else {
      throw DataError.resource("digits.csv has \(all.count) rows of \(all.featureCount) features, expected 1797 × 64")
    }
    let split = try loadSplit()
    let scaler = try Standardizer(mean: split.scaler.mean_float32, std: split.scaler.std_float32)
    return (try scaler.transform(all.subset(split.train_indices)), try scaler.transform(all.subset(split.test_indices)))
  }

  private struct Split: Decodable {
    struct Scaler: Decodable {
      // Names as in digits_split.json.
      // swiftlint:disable identifier_name
      let mean_float32: [Float]
      let std_float32: [Float]
    }
    let train_indices: [Int]
    let test_indices: [Int]
    let scaler: Scaler
  }

  private static func loadSplit() throws -> Split {
    let url = try resource("digits_split", "json")
    do { return try JSONDecoder().decode(Split.self, from: Data(contentsOf: url)) } catch {
      throw DataError.resource("digits_split.json: \(error)")
    }
  }

  private static func resource(_ name: String, _ ext: String) throws -> URL {
    guard let url = Bundle.module.url(forResource: name, withExtension: ext) else {
      throw DataError.resource("\(name).\(ext) is missing from the QATKit bundle")
    }
    return url
  }
}
