/// One subcommand of `qatkit-run`, structured as swift-argument-parser structures its commands
/// (written by hand: the package has no dependencies).
///
/// A command declares its name, a one-line abstract, its usage line, a longer discussion and the
/// options it accepts; ``CommandLineTool`` parses the arguments against ``options`` (unknown
/// options are usage errors with a did-you-mean), prints `--help` from the same declarations and
/// then calls ``init(_:)`` and ``run()``.
protocol Command {
  /// The word that selects the command (`inspect`); `run` is the default command.
  static var name: String { get }
  /// One line for the root help.
  static var abstract: String { get }
  /// Usage lines after `qatkit-run`, e.g. `inspect CHECKPOINT`.
  static var usage: [String] { get }
  /// Paragraphs shown by `--help` after the usage (examples, defaults, what is written).
  static var discussion: String { get }
  /// The options and flags the command accepts (global options are added by the tool).
  static var options: [OptionSpec] { get }
  /// The number of positional arguments accepted.
  static var positionals: ClosedRange<Int> { get }

  /// Reads the parsed arguments; throws ``CLIError/usage(_:)`` for bad values.
  init(_ arguments: ParsedArguments) throws
  /// Does the work. Errors from the library are reported on stderr with an exit code.
  func run() throws
}

extension Command {
  static var discussion: String { "" }
  static var options: [OptionSpec] { [] }
  static var positionals: ClosedRange<Int> { 0...0 }
}
