import Foundation

/// A fixture file or folder that a test expected but the bundle lacks.
public struct FixtureError: Error, CustomStringConvertible {
  /// The path that was looked for.
  public let path: String
  /// A message naming the missing path.
  public var description: String { "fixture not found: \(path)" }
}

/// Access to the `Fixtures` folder that a test target copies into its resource bundle.
public enum Fixtures {
  /// The URL of `relativePath` inside `bundle`'s `Fixtures` folder (pass `Bundle.module`).
  ///
  /// - Throws: ``FixtureError`` when the folder or the file does not exist.
  public static func url(_ relativePath: String, in bundle: Bundle) throws -> URL {
    guard let root = bundle.url(forResource: "Fixtures", withExtension: nil) else {
      throw FixtureError(path: "Fixtures (in \(bundle.bundlePath))")
    }
    let url = root.appendingPathComponent(relativePath)
    guard FileManager.default.fileExists(atPath: url.path) else { throw FixtureError(path: url.path) }
    return url
  }

  /// The bytes of a fixture file.
  public static func data(_ relativePath: String, in bundle: Bundle) throws -> Data {
    try Data(contentsOf: url(relativePath, in: bundle))
  }

  /// A fixture JSON file decoded as `T`.
  public static func json<T: Decodable>(_ type: T.Type, _ relativePath: String, in bundle: Bundle) throws -> T {
    try JSONDecoder().decode(type, from: data(relativePath, in: bundle))
  }
}

/// A fresh path in the temporary directory (nothing is created there).
public func temporaryFileURL(_ name: String = "qatkit-test") -> URL {
  FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
}
