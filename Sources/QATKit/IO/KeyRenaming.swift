/// Rules that rename state-dict keys while loading, e.g. to drop the `module.` prefix that
/// `nn.DataParallel` adds or to map a submodule's names onto another model's.
///
/// Each rule replaces a key prefix; the first rule whose prefix matches applies, keys that no
/// rule matches stay as they are. On the command line a rule is written `FROM=TO`
/// (`--rename 'module.='`).
///
/// ```swift
/// try model.loadSafeTensors(from: url, renaming: KeyRenaming([.init(prefix: "module.", replacement: "")]))
/// ```
public struct KeyRenaming: Sendable, Equatable {
  /// One rule: keys starting with `prefix` get `replacement` instead.
  public struct Rule: Sendable, Equatable {
    /// The prefix to replace.
    public var prefix: String
    /// What replaces it (may be empty).
    public var replacement: String

    /// Creates a rule.
    public init(prefix: String, replacement: String) {
      self.prefix = prefix
      self.replacement = replacement
    }
  }

  /// The rules, tried in order.
  public var rules: [Rule]

  /// Creates the renaming; no rules renames nothing.
  public init(_ rules: [Rule] = []) { self.rules = rules }

  /// Parses `FROM=TO` rules (`"module.="` drops `module.`).
  ///
  /// - Throws: ``ConfigError/invalidValue(_:path:_:)`` for a rule without `=` or with an
  ///   empty `FROM`.
  public init(parsing specs: [String]) throws {
    rules = try specs.enumerated().map { i, spec in
      guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
        throw ConfigError.invalidValue(
          "rename rule", path: "[\(i)]", "'\(spec)' is not FROM=TO (e.g. 'module.=' drops the prefix 'module.')")
      }
      return Rule(prefix: String(spec[..<eq]), replacement: String(spec[spec.index(after: eq)...]))
    }
  }

  /// The key after the first matching rule.
  public func apply(_ key: String) -> String {
    for rule in rules where key.hasPrefix(rule.prefix) {
      return rule.replacement + key.dropFirst(rule.prefix.count)
    }
    return key
  }
}
