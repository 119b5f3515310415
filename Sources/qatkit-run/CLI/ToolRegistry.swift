import QATPlugins
import QATRegistry

/// The one registry every command uses: the built-ins, every in-tree plugin, and the plugin
/// libraries loaded with the global `--plugin PATH` option (before the command runs).
enum ToolRegistry {
  private static let shared = SharedRegistry(InTreePlugins.registry)

  /// The current registry (a snapshot; commands take it once they start).
  static var registry: Registry { shared.snapshot() }

  /// Paths loaded so far, in order.
  nonisolated(unsafe) private(set) static var loadedLibraries: [(path: String, plugins: [String])] = []

  /// The plugin names that came from `--plugin` libraries.
  static var loadedPluginNames: [String] { loadedLibraries.flatMap(\.plugins) }

  /// Loads each library, in order, all or nothing per library.
  ///
  /// - Throws: ``PluginLoadError`` for the first library refused.
  static func load(_ paths: [String]) throws {
    for path in paths {
      let names = try shared.loadPlugin(at: path)
      loadedLibraries.append((path, names))
    }
  }

  /// Splits the global `--plugin PATH` / `--plugin=PATH` options (anywhere before `--`) from
  /// the other arguments.
  ///
  /// - Throws: ``CLIError/usage(_:)`` for `--plugin` without a path.
  static func extractPluginOptions(_ arguments: [String]) throws -> (paths: [String], rest: [String]) {
    var paths: [String] = [], rest: [String] = []
    var i = 0
    while i < arguments.count {
      let arg = arguments[i]
      i += 1
      if arg == "--" {
        rest += arguments[(i - 1)...]
        break
      }
      if arg == "--plugin" {
        guard i < arguments.count, !arguments[i].hasPrefix("-") else {
          throw CLIError.usage("'--plugin' needs the path of a plugin library (PATH)")
        }
        paths.append(arguments[i])
        i += 1
      } else if arg.hasPrefix("--plugin=") {
        let path = String(arg.dropFirst("--plugin=".count))
        guard !path.isEmpty else { throw CLIError.usage("'--plugin' needs the path of a plugin library (PATH)") }
        paths.append(path)
      } else {
        rest.append(arg)
      }
    }
    return (paths, rest)
  }
}
