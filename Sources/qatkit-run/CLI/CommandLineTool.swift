import Foundation

/// The `qatkit-run` tool: dispatches to a subcommand, prints help and the version, and turns
/// errors into messages on stderr and exit codes (see ``ExitCode``).
enum CommandLineTool {
  /// The tool's version, printed by `--version`.
  static let version = "0.3.0"

  /// Every subcommand, in the order the root help lists them; the first is the default.
  static var commands: [any Command.Type] {
    [
      RunCommand.self,
      TrainCommand.self,
      QuantizeCommand.self,
      QATCommand.self,
      DistillCommand.self,
      EvalCommand.self,
      ExportCommand.self,
      RecipeCommand.self,
      PTQCommand.self,
      InspectCommand.self,
      ListCommand.self,
      NewPluginCommand.self,
      BuildPluginCommand.self,
      CheckPluginCommand.self,
      EmbedCommand.self,
      MiniLMCommand.self,
    ]
  }

  /// Options every command accepts (before or after the command name).
  static let globalOptions: [OptionSpec] = [
    .flag("--quiet", "no progress or notes on stderr (results and errors still print)")
  ]

  /// Applies the global options found in `parsed`.
  static func applyGlobalOptions(_ parsed: ParsedArguments) {
    Console.quiet = parsed.flag("--quiet")
  }

  /// Runs the tool on `arguments` (without the program name) and returns the exit code; under
  /// an MPI launcher (or with `--distributed`) as one rank of a data-parallel job.
  static func main(_ arguments: [String]) -> Int32 {
    var args = arguments
    do { try DistributedSession.start(&args) } catch { return report(error, command: nil) }
    return DistributedSession.finish(dispatch(args))
  }

  /// Parses `arguments` and runs the command they name; returns the exit code.
  static func dispatch(_ arguments: [String]) -> Int32 {
    var args: [String]
    let pluginPaths: [String]
    do { (pluginPaths, args) = try ToolRegistry.extractPluginOptions(arguments) } catch {
      return report(error, command: nil)
    }
    if args.first == "--version" {
      print("qatkit-run \(version)")
      return ExitCode.success
    }
    if args.first == "help" || args.first == "--help" || args.first == "-h" {
      if args.count > 1, let c = commands.first(where: { $0.name == args[1] }) {
        print(help(for: c))
      } else {
        print(rootHelp())
      }
      return ExitCode.success
    }
    // Global flags may come before the command name.
    var leading: [String] = []
    while let first = args.first, globalOptions.contains(where: { $0.name == first && $0.value == nil }) {
      leading.append(args.removeFirst())
    }
    var command: any Command.Type = commands[0]
    if let first = args.first, !first.hasPrefix("-") {
      guard let c = commands.first(where: { $0.name == first }) else {
        let hint = ParsedArguments.nearest(first, in: commands.map { $0.name })
        return report(CLIError.usage("unknown command '\(first)'\(hint.map { "; did you mean '\($0)'?" } ?? "")"), command: nil)
      }
      command = c
      args.removeFirst()
    }
    if args.contains("--help") || args.contains("-h") {
      print(help(for: command))
      return ExitCode.success
    }
    Interrupt.install()
    do {
      try ToolRegistry.load(pluginPaths)
      let parsed = try ParsedArguments(leading + args, specs: command.options + globalOptions, command: command.name)
      applyGlobalOptions(parsed)
      let n = parsed.positionals.count
      guard command.positionals.contains(n) else {
        let p = command.positionals
        let expected = p.lowerBound == p.upperBound ? "\(p.lowerBound)" : "\(p.lowerBound) to \(p.upperBound)"
        let extra = n > p.upperBound ? ": unexpected '\(parsed.positionals[p.upperBound])'" : ""
        throw CLIError.usage("'\(command.name)' takes \(expected) argument\(p.upperBound == 1 ? "" : "s"), got \(n)\(extra)")
      }
      let instance = try command.init(parsed)
      DistributedSession.announce(command.name)
      try instance.run()
      return ExitCode.success
    } catch {
      return report(error, command: command)
    }
  }

  /// Prints `error` on stderr (with where to get help for usage errors) and returns its exit code.
  static func report(_ error: any Error, command: (any Command.Type)?) -> Int32 {
    let code = ExitCode.forError(error)
    var message = "\(DistributedSession.errorPrefix)error: \(error)"
    if case CLIError.usage = error {
      message += "\nsee 'qatkit-run \(command.map { "\($0.name) " } ?? "")--help'"
    }
    FileHandle.standardError.write(Data((message + "\n").utf8))
    return code
  }

  /// The root help: usage, the commands with their abstracts, and the global options.
  static func rootHelp() -> String {
    let width = commands.map { $0.name.count }.max() ?? 0
    var lines = [
      "OVERVIEW: quantization-aware training with distillation: PTQ, QAT, QAT + KD, checkpoints and export.",
      "",
      "USAGE: qatkit-run [COMMAND] [OPTIONS]",
      "       (no command runs '\(commands[0].name)')",
      "",
      "COMMANDS:",
    ]
    for c in commands {
      lines.append("  \(c.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(c.abstract)")
    }
    let global = globalOptions.map { "  \($0.name.padding(toLength: 13, withPad: " ", startingAt: 0))  \($0.help)" }
    lines += [
      "",
      "OPTIONS:",
      "  --version      print the version",
      "  --distributed  run as one rank of an MPI job (automatic under mpirun / srun / mpiexec)",
      "  -h, --help     show help (after a command: that command's help)",
      "  --plugin PATH  load a plugin library before the command runs (repeatable, before or after",
      "                 the command; build one with 'qatkit-run build-plugin')",
    ] + global + [
      "",
      "EXIT CODES: 0 ok, 1 failure while running, 2 usage or input error, 130 interrupted (Ctrl-C).",
      "See 'qatkit-run COMMAND --help' for a command's options.",
    ]
    return lines.joined(separator: "\n")
  }

  /// A command's help: abstract, usage lines, discussion and options.
  static func help(for command: any Command.Type) -> String {
    var lines = ["OVERVIEW: \(command.abstract)", ""]
    for (i, u) in command.usage.enumerated() {
      lines.append((i == 0 ? "USAGE: " : "       ") + "qatkit-run \(u)")
    }
    if !command.discussion.isEmpty { lines += ["", command.discussion] }
    let options = command.options + globalOptions + [
      .option("--plugin", "PATH", "load a plugin library first (global option)", repeatable: true),
      .flag("-h, --help", "show this help"),
    ]
    let labels = options.map { o in o.value.map { "\(o.name) \($0)" } ?? o.name }
    let width = labels.map(\.count).max() ?? 0
    lines += ["", "OPTIONS:"]
    for (label, o) in zip(labels, options) {
      lines.append("  \(label.padding(toLength: width, withPad: " ", startingAt: 0))  \(o.help)\(o.repeatable ? " (repeatable)" : "")")
    }
    return lines.joined(separator: "\n")
  }
}
