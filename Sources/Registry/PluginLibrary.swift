import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A run-time plugin library, opened and checked: the plugin types it offers (see
/// ``PluginABI`` for the interface and what a library must be built against).
///
/// Loading opens the file with `dlopen(RTLD_NOW | RTLD_LOCAL)` (every symbol resolved at once,
/// so a library built against another QATKit fails here, not later), reads its ABI version
/// through a C call and refuses a mismatch before any of its Swift code runs, then calls its
/// register entry point. A library, once opened, stays mapped until the process exits (Swift
/// images cannot be unloaded safely), whether or not it was accepted.
public struct PluginLibrary {
  /// The path it was loaded from.
  public let path: String
  /// The plugin types its entry point added.
  public let plugins: [any QATPlugin.Type]

  /// Opens and checks the library at `path`.
  ///
  /// - Throws: ``PluginLoadError``.
  public static func load(at path: String) throws -> PluginLibrary {
    guard FileManager.default.fileExists(atPath: path) else { throw PluginLoadError.fileNotFound(path: path) }
    // A path without a slash would be searched on the library path, not taken as a file.
    let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    // Only a regular file (symbolic links followed): dlopen on a FIFO blocks in open() until
    // something writes to it, and a directory or device is never a library.
    var info = stat()
    guard stat(absolute, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
      throw PluginLoadError.cannotOpen(
        path: path, reason: "not a regular file (a directory, FIFO or device); give the shared library that build-plugin wrote")
    }
    #if os(Linux)
      try checkELF(at: absolute, path: path)
    #endif
    _ = dlerror()
    guard let handle = dlopen(absolute, RTLD_NOW | RTLD_LOCAL) else {
      let reason = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
      throw PluginLoadError.cannotOpen(path: path, reason: reason)
    }
    guard let versionSymbol = dlsym(handle, PluginABI.versionSymbol) else {
      throw PluginLoadError.notAPlugin(path: path, missingSymbol: PluginABI.versionSymbol)
    }
    guard let registerSymbol = dlsym(handle, PluginABI.registerSymbol) else {
      throw PluginLoadError.notAPlugin(path: path, missingSymbol: PluginABI.registerSymbol)
    }
    typealias VersionFunction = @convention(c) () -> Int32
    typealias RegisterFunction = @convention(c) (UnsafeMutableRawPointer) -> Int32
    let found = unsafeBitCast(versionSymbol, to: VersionFunction.self)()
    guard found == PluginABI.version else {
      throw PluginLoadError.abiMismatch(path: path, found: found, expected: PluginABI.version)
    }
    let registrar = PluginRegistrar()
    let code = withExtendedLifetime(registrar) {
      unsafeBitCast(registerSymbol, to: RegisterFunction.self)(Unmanaged.passUnretained(registrar).toOpaque())
    }
    guard code == 0 else { throw PluginLoadError.entryPointFailed(path: path, code: code) }
    guard !registrar.plugins.isEmpty else { throw PluginLoadError.noPlugins(path: path) }
    return PluginLibrary(path: path, plugins: registrar.plugins)
  }
}

extension Registry {
  /// Loads the run-time plugin library at `path` and registers every plugin type it offers,
  /// all or nothing: if the library is refused or any plugin fails to register, the registry
  /// is unchanged.
  ///
  /// - Returns: The names of the plugins registered.
  /// - Throws: ``PluginLoadError``.
  @discardableResult
  public mutating func loadPlugin(at path: String) throws -> [String] {
    let library = try PluginLibrary.load(at: path)
    try register(library)
    return library.plugins.map { $0.name }
  }

  /// Registers every plugin of a loaded library, all or nothing.
  ///
  /// - Throws: ``PluginLoadError/registrationFailed(path:plugin:reason:)``, the registry unchanged.
  public mutating func register(_ library: PluginLibrary) throws {
    var copy = self
    for p in library.plugins {
      do { try copy.register(p) } catch {
        throw PluginLoadError.registrationFailed(path: library.path, plugin: p.name, reason: "\(error)")
      }
    }
    self = copy
  }
}

extension SharedRegistry {
  /// Loads a run-time plugin library into the shared registry, all or nothing (see
  /// ``Registry/loadPlugin(at:)``).
  ///
  /// - Throws: ``PluginLoadError``.
  @discardableResult
  public func loadPlugin(at path: String) throws -> [String] {
    try update { try $0.loadPlugin(at: path) }
  }
}
