/// Why a run-time plugin library was refused. Nothing of a refused library is registered.
public enum PluginLoadError: Error, Equatable, CustomStringConvertible {
  /// No file at the path.
  case fileNotFound(path: String)
  /// The dynamic loader refused the file (its message).
  case cannotOpen(path: String, reason: String)
  /// A shared library without the plugin entry point `symbol`.
  case notAPlugin(path: String, missingSymbol: String)
  /// A plugin built for another plugin ABI version.
  case abiMismatch(path: String, found: Int32, expected: Int32)
  /// The entry point returned an error code.
  case entryPointFailed(path: String, code: Int32)
  /// The library's entry point added no plugin type.
  case noPlugins(path: String)
  /// A plugin type failed to register (e.g. a name already taken).
  case registrationFailed(path: String, plugin: String, reason: String)

  /// What is wrong and what to do.
  public var description: String {
    switch self {
    case .fileNotFound(let p):
      return "plugin library '\(p)' does not exist"
    case .cannotOpen(let p, let reason):
      var hint = ""
      if reason.contains("undefined symbol") {
        hint = " — it needs QATKit symbols this program does not provide: build it with the same toolchain against this "
          + "very build of QATKit (qatkit-run build-plugin), and make sure the host executable exports its symbols "
          + "(-Xlinker --export-dynamic, as qatkit-run does)"
      } else if reason.contains("invalid ELF header") || reason.contains("file too short") || reason.contains("not a mach-o") {
        hint = " — it is not a shared library; build one with qatkit-run build-plugin"
      }
      return "cannot load plugin library '\(p)': \(reason)\(hint)"
    case .notAPlugin(let p, let symbol):
      return "'\(p)' is a shared library but not a QATKit plugin: it does not export '\(symbol)'. A plugin library "
        + "exports @_cdecl(\"\(PluginABI.versionSymbol)\") and @_cdecl(\"\(PluginABI.registerSymbol)\") (see CONTRIBUTING.md, "
        + "'Run-time plugins'; qatkit-run new-plugin writes them)"
    case .abiMismatch(let p, let found, let expected):
      return "plugin library '\(p)' was built for plugin ABI version \(found), this program loads version \(expected): "
        + "rebuild it against this QATKit (qatkit-run build-plugin)"
    case .entryPointFailed(let p, let code):
      return "plugin library '\(p)': \(PluginABI.registerSymbol) returned \(code); nothing was registered"
    case .noPlugins(let p):
      return "plugin library '\(p)' registered no plugin type: its \(PluginABI.registerSymbol) must call "
        + "PluginRegistrar.register([MyPlugin.self], into: registrar)"
    case .registrationFailed(let p, let plugin, let reason):
      return "plugin '\(plugin)' from '\(p)' could not register, so nothing from the library was registered: \(reason)"
    }
  }
}
