/// The C interface of run-time plugins: a shared library that `qatkit-run --plugin PATH` (or
/// ``Registry/loadPlugin(at:)``) loads exports two C symbols,
///
/// ```swift
/// @_cdecl("qatkit_plugin_abi_version")
/// public func qatkitPluginABIVersion() -> Int32 { PluginABI.version }
///
/// @_cdecl("qatkit_plugin_register")
/// public func qatkitPluginRegister(_ registrar: UnsafeMutableRawPointer) -> Int32 {
///   PluginRegistrar.register([MyQuantPlugin.self], into: registrar)
/// }
/// ```
///
/// The host reads the ABI version first (a C call, safe whatever the plugin was built
/// against) and refuses a mismatch before any Swift code of the plugin runs; then it calls
/// `qatkit_plugin_register` with a ``PluginRegistrar`` and registers the plugin types it
/// collected into a copy of its registry, keeping the copy only if every one registers.
///
/// There is no stable Swift ABI between builds: a plugin must be compiled by the same compiler
/// against the same QATKit build as the host (`qatkit-run build-plugin` does that), as a single
/// module that leaves QATKit's symbols undefined, and the host executable must export its
/// symbols (`-Xlinker --export-dynamic`, set on `qatkit-run`). A library built against another
/// QATKit build usually fails to load with an undefined symbol, which the loader reports.
public enum PluginABI {
  /// The version of this interface (entry points, ``PluginRegistrar``, ``QATPlugin``).
  /// Emitted into the client, so a plugin's `qatkit_plugin_abi_version` returns the value it
  /// was compiled with.
  @_alwaysEmitIntoClient public static var version: Int32 { 1 }

  /// `qatkit_plugin_abi_version`: `() -> Int32`.
  public static let versionSymbol = "qatkit_plugin_abi_version"
  /// `qatkit_plugin_register`: `(UnsafeMutableRawPointer) -> Int32`, 0 on success.
  public static let registerSymbol = "qatkit_plugin_register"
}

/// Collects the plugin types a run-time plugin library offers; the host passes one to the
/// library's `qatkit_plugin_register` as an opaque pointer.
public final class PluginRegistrar {
  /// The plugin types added so far, in order.
  public private(set) var plugins: [any QATPlugin.Type] = []

  /// An empty registrar.
  public init() {}

  /// Adds a plugin type.
  public func add(_ plugin: any QATPlugin.Type) { plugins.append(plugin) }

  /// What a plugin's `qatkit_plugin_register` entry point calls: adds `plugins` to the
  /// registrar behind `registrar` and returns 0.
  public static func register(_ plugins: [any QATPlugin.Type], into registrar: UnsafeMutableRawPointer) -> Int32 {
    let r = Unmanaged<PluginRegistrar>.fromOpaque(registrar).takeUnretainedValue()
    for p in plugins { r.add(p) }
    return 0
  }
}
