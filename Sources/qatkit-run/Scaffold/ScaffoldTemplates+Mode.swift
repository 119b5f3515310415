extension ScaffoldTemplates {
  static let mode = #"""
    import QATKit

    /// Freezes the parameters of the listed layers (they keep their values while the rest
    /// trains). A mode must be restorable: `restore` rebuilds on a fresh model everything
    /// `convert` did, from the config and metadata alone (weights arrive afterwards).
    ///
    /// Config JSON: `{"layers": ["fc1"]}`.
    public enum __NAME__Mode: Mode {
      /// The mode's configuration, decoded strictly from JSON.
      public struct Config: Codable, Equatable, Sendable {
        /// Module paths whose parameters are frozen.
        public var layers: [String]

        /// A config.
        public init(layers: [String]) { self.layers = layers }
      }

      /// The registry name.
      public static let name = "__SNAKE__"
      /// One line for listings.
      public static let summary = "freezes the parameters of the listed layers"

      /// Checks the config against the model before anything changes.
      public static func validate(_ config: Config, for model: Module) throws {
        guard !config.layers.isEmpty else {
          throw ConfigError.invalidValue("\(name) config", path: "layers", "list at least one layer path")
        }
        let paths = model.namedModules().map(\.0)
        for (i, p) in config.layers.enumerated() where !paths.contains(p) {
          throw ConfigError.invalidValue(
            "\(name) config", path: "layers[\(i)]", "no layer '\(p)'; the model's layers are: \(paths.filter { !$0.isEmpty }.joined(separator: ", "))")
        }
      }

      /// Freezes; the metadata lists the frozen parameters.
      public static func convert(_ model: Module, config: Config, context: ModeContext) throws -> (Module, JSONValue) {
        let frozen = try freeze(model, config)
        return (model, .object(["frozen": .array(frozen.map { .string($0) })]))
      }

      /// Freezes the same layers of a fresh model.
      public static func restore(_ model: Module, config: Config, metadata: JSONValue, context: ModeContext) throws -> Module {
        _ = try freeze(model, config)
        return model
      }

      static func freeze(_ model: Module, _ config: Config) throws -> [String] {
        var names: [String] = []
        for path in config.layers {
          for (name, p) in try model.module(at: path).namedParameters() {
            p.requiresGrad = false
            p.grad = nil
            names.append(path.isEmpty ? name : "\(path).\(name)")
          }
        }
        return names
      }
    }

    """#

  static let modeTests = #"""
    import QATKit
    import QATPluginTesting
    import QATRegistry
    import Testing
    import __NAME__

    @Suite struct __NAME__Tests {
      /// QATKit's conformance suite: conversion by name, strict config, chain rules, rollback
      /// on failure, save → restore, restore without the plugin.
      @Test func conformance() {
        let report = ModeConformance(
          plugin: __NAME__Plugin.self, mode: "__SNAKE__",
          config: .object(["layers": .array([.string("fc1")])]),
          failingConfig: .object(["layers": .array([.string("fc9")])])
        ).run()
        #expect(report.passed, "\(report)")
      }

      @Test func frozenLayersStopTraining() throws {
        var registry = Registry.builtin
        try registry.register(__NAME__Plugin.self)
        let model = MLP([4, 6, 3])
        try convert(model, modes: [.mode(__NAME__Mode.self, .init(layers: ["fc1"]))], registry: registry)
        let trainable = Set(model.trainableParameters().map(ObjectIdentifier.init))
        #expect(model.layers[0].parameters().allSatisfy { !trainable.contains(ObjectIdentifier($0)) })
        #expect(model.layers[1].parameters().allSatisfy { trainable.contains(ObjectIdentifier($0)) })
      }
    }

    """#
}
