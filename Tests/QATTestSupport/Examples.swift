import Foundation

/// Access to the repository's `Examples/` folder (example data, PyTorch models, architecture
/// files and recipes that the README uses and the tests run).
public enum Examples {
  /// The package root, found from this file's location.
  public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// The URL of `relativePath` inside `Examples/`.
  ///
  /// - Throws: ``FixtureError`` when the file does not exist.
  public static func url(_ relativePath: String) throws -> URL {
    let url = packageRoot.appendingPathComponent("Examples").appendingPathComponent(relativePath)
    guard FileManager.default.fileExists(atPath: url.path) else { throw FixtureError(path: url.path) }
    return url
  }
}
