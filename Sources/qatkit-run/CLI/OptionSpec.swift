/// A documented option (`--out DIR`) or flag (`--quiet`) of a command.
struct OptionSpec: Sendable {
  /// The option's long name with its dashes, e.g. `--out`.
  let name: String
  /// The value's placeholder in help (`DIR`), or `nil` for a flag that takes no value.
  let value: String?
  /// One line of help.
  let help: String
  /// Whether the option may be given more than once (`--set a=1 --set b=2`).
  let repeatable: Bool

  /// An option that takes a value.
  static func option(_ name: String, _ value: String, _ help: String, repeatable: Bool = false) -> OptionSpec {
    OptionSpec(name: name, value: value, help: help, repeatable: repeatable)
  }

  /// A flag that takes no value.
  static func flag(_ name: String, _ help: String) -> OptionSpec {
    OptionSpec(name: name, value: nil, help: help, repeatable: false)
  }
}
