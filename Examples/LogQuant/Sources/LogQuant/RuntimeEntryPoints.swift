// The C entry points that make this module loadable at run time (`qatkit-run --plugin`),
// compiled only into the library `qatkit-run build-plugin` builds (it defines
// QATKIT_PLUGIN_LIBRARY), so programs that link several plugin packages never see them twice.
#if QATKIT_PLUGIN_LIBRARY
  import QATRegistry

  /// The plugin ABI version this library was compiled against.
  @_cdecl("qatkit_plugin_abi_version")
  public func qatkitPluginABIVersion() -> Int32 { PluginABI.version }

  /// Hands the plugin types to the loading program.
  @_cdecl("qatkit_plugin_register")
  public func qatkitPluginRegister(_ registrar: UnsafeMutableRawPointer) -> Int32 {
    PluginRegistrar.register([LogQuantPlugin.self], into: registrar)
  }
#endif
