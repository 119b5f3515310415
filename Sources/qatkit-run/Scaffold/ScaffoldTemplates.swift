/// The files of a scaffolded plugin package common to every kind. Placeholders: `__NAME__`
/// (the package, module and plugin name, e.g. `MyQuant`), `__SNAKE__` (the registry name,
/// `my_quant`), `__KIND__`, `__QATKIT_PATH__`.
enum ScaffoldTemplates {
  static let manifest = #"""
    // swift-tools-version:6.2
    // A QATKit plugin package, written by `qatkit-run new-plugin`.
    import PackageDescription

    // Where QATKit's source tree is: $QATKIT_PATH, or the tree qatkit-run was built from.
    let qatkitPath = Context.environment["QATKIT_PATH"] ?? "__QATKIT_PATH__"
    // SwiftPM names a path dependency after its folder (its last path component).
    let qatkit = qatkitPath.split(separator: "/").last.map(String.init) ?? "QATKit"

    let package = Package(
      name: "__NAME__",
      platforms: [.macOS(.v15)],
      products: [.library(name: "__NAME__", targets: ["__NAME__"])],
      dependencies: [.package(path: qatkitPath)],
      targets: [
        .target(
          name: "__NAME__",
          dependencies: [.product(name: "QATKit", package: qatkit), .product(name: "QATRegistry", package: qatkit)]),
        .testTarget(
          name: "__NAME__Tests",
          dependencies: [
            "__NAME__", .product(name: "QATKit", package: qatkit), .product(name: "QATRegistry", package: qatkit),
            .product(name: "QATPluginTesting", package: qatkit),
          ]),
      ],
      swiftLanguageModes: [.v6]
    )

    """#

  static let entryPoints = #"""
    // The C entry points that make this module loadable at run time (`qatkit-run --plugin`).
    // Compiled only into the shared library that `qatkit-run build-plugin` builds (it defines
    // QATKIT_PLUGIN_LIBRARY), so linking several plugin packages into one program never sees
    // these symbols twice.
    #if QATKIT_PLUGIN_LIBRARY
      import QATRegistry

      /// The plugin ABI version this library was compiled against (checked before anything else).
      @_cdecl("qatkit_plugin_abi_version")
      public func qatkitPluginABIVersion() -> Int32 { PluginABI.version }

      /// Hands the plugin types to the loading program.
      @_cdecl("qatkit_plugin_register")
      public func qatkitPluginRegister(_ registrar: UnsafeMutableRawPointer) -> Int32 {
        PluginRegistrar.register([__NAME__Plugin.self], into: registrar)
      }
    #endif

    """#

  static let readme = #"""
    # __NAME__

    A QATKit __KIND__ plugin, registered as `__SNAKE__` by the plugin type `__NAME__Plugin`
    (plugin name `"__NAME__"`, recorded in checkpoints). Written by `qatkit-run new-plugin`.

    ## Build and test

    ```bash
    swift build
    swift test                 # the QATKit conformance suite on this plugin, and its own tests
    ```

    `Package.swift` finds QATKit's source tree in `$QATKIT_PATH`, or where the generating
    `qatkit-run` was built from (`__QATKIT_PATH__`). SwiftPM names a path dependency after its
    folder, so the manifest computes the package name from the path. The first build compiles
    QATKit too.

    ## Use it from Swift

    ```swift
    import QATKit
    import QATRegistry
    import __NAME__

    var registry = Registry.builtin            // or InTreePlugins.registry (module QATPlugins)
    try registry.register(__NAME__Plugin.self)
    ```

    Pass `registry` to `convert`, `save` and `restore`; a checkpoint that uses `__SNAKE__`
    restores only with this plugin registered (the error names `__NAME__`).

    ## Use it from the command line, without rebuilding qatkit-run

    ```bash
    qatkit-run build-plugin Sources/__NAME__/*.swift --output lib__NAME__.so
    qatkit-run --plugin lib__NAME__.so list
    ```

    The library works only with the `qatkit-run` build it was compiled against (same toolchain,
    same QATKit build): `build-plugin` compiles against that build's modules and leaves QATKit's
    symbols to the program that loads it. Rebuild it after rebuilding `qatkit-run`.

    """#

  /// The type-name suffix of the implementation file.
  static func typeSuffix(_ kind: Scaffold.Kind) -> String {
    switch kind {
    case .quantizer: "Quantizer"
    case .calibrator: "Calibrator"
    case .criterion: "Criterion"
    case .balancer: "Balancer"
    case .mode: "Mode"
    }
  }

  /// The plugin type and its registration.
  static func plugin(_ kind: Scaffold.Kind) -> String {
    let registration: String
    switch kind {
    case .quantizer:
      registration = #"""
        try registry.register(quantizer: "__SNAKE__", summary: "learned-range uniform quantizer") {
              try __NAME__Quantizer(attributes: $0)
            }
        """#
    case .calibrator:
      registration = #"""
        try registry.register(calibrator: "__SNAKE__", summary: "range = factor × mean |x|, at most max |x|") {
              try __NAME__Calibrator(options: JSONValue.decodeOptions($0, as: __NAME__Calibrator.Options.self, context: "__SNAKE__ calibrator options"))
            }
        """#
    case .criterion:
      registration = #"""
        try registry.register(criterion: __NAME__Criterion.kind, summary: "Huber loss between outputs") {
              try __NAME__Criterion(json: $0)
            }
        """#
    case .balancer:
      registration = #"""
        try registry.register(balancer: __NAME__Balancer.kind, summary: "fixed weights per loss") {
              try __NAME__Balancer(json: $0)
            }
        """#
    case .mode:
      registration = #"""
        try registry.register(mode: __NAME__Mode.self)
        """#
    }
    return #"""
      import QATKit
      import QATRegistry

      /// Registers `__SNAKE__`. Users add it with `registry.register(__NAME__Plugin.self)`; its
      /// `name` is recorded in checkpoints, so restoring one that uses `__SNAKE__` names this plugin.
      public enum __NAME__Plugin: QATPlugin {
        /// The plugin's name.
        public static let name = "__NAME__"
        /// One line about it.
        public static let summary = "__NAME__: a __KIND__ plugin"

        /// Registers everything the plugin brings.
        public static func register(in registry: inout Registry) throws {
          \#(registration)
        }
      }

      """#
  }

  /// The implementation of `kind`.
  static func implementation(_ kind: Scaffold.Kind) -> String {
    switch kind {
    case .quantizer: ScaffoldTemplates.quantizer
    case .calibrator: ScaffoldTemplates.calibrator
    case .criterion: ScaffoldTemplates.criterion
    case .balancer: ScaffoldTemplates.balancer
    case .mode: ScaffoldTemplates.mode
    }
  }

  /// The tests of `kind`.
  static func tests(_ kind: Scaffold.Kind) -> String {
    switch kind {
    case .quantizer: ScaffoldTemplates.quantizerTests
    case .calibrator: ScaffoldTemplates.calibratorTests
    case .criterion: ScaffoldTemplates.criterionTests
    case .balancer: ScaffoldTemplates.balancerTests
    case .mode: ScaffoldTemplates.modeTests
    }
  }

  /// How users select `kind` in configs, for the README.
  static func kindReadme(_ kind: Scaffold.Kind) -> String {
    switch kind {
    case .quantizer:
      return #"""

        ## In a quantize config

        ```json
        {"quantCfg": [{"quantizerName": "*weight_quantizer",
                       "cfg": {"format": "int4", "axis": 0, "algorithm": "__SNAKE__", "algorithmOptions": {}}}]}
        ```

        ```bash
        qatkit-run --plugin lib__NAME__.so check-plugin     # uses it by name on the bundled digits model
        ```

        """#
    case .calibrator:
      return #"""

        ## In a quantize config

        ```json
        {"quantCfg": [{"quantizerName": "*input_quantizer",
                       "cfg": {"format": "int8", "calibrator": "__SNAKE__", "calibratorOptions": {"factor": 3}}}]}
        ```

        """#
    case .criterion:
      return #"""

        ## In a kd_loss config

        ```swift
        let json = try JSONValue(parsing: #"{"criteria": [{"criterion": {"kind": "__SNAKE__", "delta": 1}}]}"#)
        let kd = try KDConfig(json: json, teacher: teacher, registry: registry)
        let model = try convert(student, modes: [.kdLoss(kd)], registry: registry)
        ```

        """#
    case .balancer:
      return #"""

        ## In a kd_loss config

        ```swift
        let json = try JSONValue(parsing: #"{"criteria": [{"criterion": {"kind": "logits_kl"}}], "balancer": {"kind": "__SNAKE__", "weights": [0.5]}}"#)
        let kd = try KDConfig(json: json, teacher: teacher, registry: registry)
        ```

        """#
    case .mode:
      return #"""

        ## In a mode list

        ```swift
        let model = try convert(model, modes: [.named("__SNAKE__", try JSONValue(parsing: #"{"layers": ["fc1"]}"#))], registry: registry)
        ```

        """#
    }
  }
}
