import Foundation
import QATKit

/// The arguments of one command after parsing against its ``OptionSpec``s: option values in
/// order, flags that were given, and positional arguments.
struct ParsedArguments {
  /// The command these arguments belong to (for messages).
  let command: String
  /// Values of options given, in command-line order, by long name (`--out`).
  private(set) var values: [String: [String]] = [:]
  /// Flags given, by long name.
  private(set) var flags: Set<String> = []
  /// Positional arguments in order.
  private(set) var positionals: [String] = []

  /// Parses `arguments` against `specs`: `--name value`, `--name=value`, flags, positionals, and
  /// `--` to end options.
  ///
  /// - Throws: ``CLIError/usage(_:)`` for an unknown option (naming the nearest known one), a
  ///   missing value, a value given to a flag, or an option repeated that may be given once.
  init(_ arguments: [String], specs: [OptionSpec], command: String) throws {
    self.command = command
    let byName = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    var i = 0
    var onlyPositionals = false
    while i < arguments.count {
      let arg = arguments[i]
      i += 1
      if onlyPositionals || !arg.hasPrefix("-") || arg == "-" {
        positionals.append(arg)
        continue
      }
      if arg == "--" { onlyPositionals = true; continue }
      var name = arg
      var inline: String?
      if let eq = arg.firstIndex(of: "=") {
        name = String(arg[..<eq])
        inline = String(arg[arg.index(after: eq)...])
      }
      guard let spec = byName[name] else {
        let hint = ParsedArguments.nearest(name, in: byName.keys)
        throw CLIError.usage("unknown option '\(name)' for '\(command)'\(hint.map { "; did you mean '\($0)'?" } ?? "")")
      }
      guard spec.value != nil else {
        if inline != nil { throw CLIError.usage("'\(name)' is a flag and takes no value") }
        flags.insert(name)
        continue
      }
      let value: String
      if let inline {
        value = inline
      } else {
        guard i < arguments.count, !arguments[i].hasPrefix("--") else {
          throw CLIError.usage("'\(name)' needs a value (\(spec.value!))")
        }
        value = arguments[i]
        i += 1
      }
      if !spec.repeatable, values[name] != nil {
        throw CLIError.usage("'\(name)' was given more than once")
      }
      values[name, default: []].append(value)
    }
  }

  /// The closest of `known` to `name` by edit distance, when it is close enough to be a typo.
  static func nearest(_ name: String, in known: some Sequence<String>) -> String? {
    known.min { editDistance($0, name) < editDistance($1, name) }
      .flatMap { editDistance($0, name) <= max(2, name.count / 3) ? $0 : nil }
  }

  /// The long names of every option and flag given.
  var givenNames: Set<String> { flags.union(values.keys) }

  /// Whether the flag was given.
  func flag(_ name: String) -> Bool { flags.contains(name) }

  /// The option's value, if given (the last one for a repeatable option).
  func string(_ name: String) -> String? { values[name]?.last }

  /// Every value of a repeatable option, in order.
  func strings(_ name: String) -> [String] { values[name] ?? [] }

  /// The option's value as an integer in `range`, or `defaultValue` when absent.
  func int(_ name: String, default defaultValue: Int, in range: ClosedRange<Int> = Int.min...Int.max) throws -> Int {
    guard let s = string(name) else { return defaultValue }
    guard let v = Int(s), range.contains(v) else {
      throw CLIError.usage("'\(name)' expects an integer in \(range.lowerBound)...\(range.upperBound), got '\(s)'")
    }
    return v
  }

  /// The option's value as a finite number in `range`, or `defaultValue` when absent.
  func double(_ name: String, default defaultValue: Double, in range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) throws -> Double {
    guard let s = string(name) else { return defaultValue }
    guard let v = Double(s), v.isFinite, range.contains(v) else {
      throw CLIError.usage("'\(name)' expects a number in \(range.lowerBound)...\(range.upperBound), got '\(s)'")
    }
    return v
  }

  /// The option's value as a comma-separated list of integers in `range` (`16,16`,
  /// `1,8,8`), or `nil` when absent.
  func ints(_ name: String, in range: ClosedRange<Int> = 1...1_000_000) throws -> [Int]? {
    guard let s = string(name) else { return nil }
    let parts = s.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !parts.isEmpty, parts.allSatisfy({ $0.map(range.contains) ?? false }) else {
      throw CLIError.usage("'\(name)' expects comma-separated integers in \(range.lowerBound)...\(range.upperBound) (e.g. 16,16), got '\(s)'")
    }
    return parts.map { $0! }
  }

  /// The option's value as a file URL that must exist, or `nil` when absent.
  func existingFile(_ name: String) throws -> URL? {
    guard let url = url(name) else { return nil }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
      throw CLIError.input("\(name): no such file '\(url.path)'")
    }
    return url
  }

  /// The option's value as a file URL, or `nil` when absent.
  func url(_ name: String) -> URL? { string(name).map { URL(fileURLWithPath: $0) } }
}
