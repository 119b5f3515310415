import Foundation
import QATKit
import QATRegistry

/// The conformance suite for a mode plugin: conversion by name, chain rules, all-or-nothing
/// conversion, and restore from a checkpoint.
///
/// ```swift
/// let report = ModeConformance(plugin: MyModePlugin.self, mode: "my_mode",
///                              config: .object(["factor": .number(2)]),
///                              failingConfig: .object(["factor": .number(-1)])).run()
/// #expect(report.passed, "\(report)")
/// ```
///
/// Checks, on `makeModel()` (a small MLP by default) after the `before` steps: `convert` by
/// name records the mode with a config that decodes again; an unknown config key is refused;
/// every mode its ``Mode/allowedNext`` excludes (of the followers it can build configs for) is
/// refused after it with ``RegistryError/chainNotAllowed(previous:next:allowed:)``, the model
/// unchanged; a failing conversion (`failingConfig`) leaves the model exactly as it was
/// (weights, quantizers, history, outputs); and, when the mode saves state, save → restore onto
/// a fresh model replays it bit-identically (state, quantizers, outputs, the modes, and the
/// restored model saves the same file again) while restoring without the plugin fails naming it.
public struct ModeConformance {
  /// The plugin under test.
  public var plugin: any QATPlugin.Type
  /// The mode name it registers.
  public var mode: String
  /// A config that converts.
  public var config: JSONValue
  /// A config whose conversion fails after validation passes, or `nil` to skip the rollback
  /// check (a config that fails validation is refused before any change anyway).
  public var failingConfig: JSONValue?
  /// Builds a fresh model (the same architecture every call).
  public var makeModel: () -> Module
  /// Steps applied before the mode (e.g. a `quantize` the mode builds on).
  public var before: [ModeStep]
  /// The calibration loop passed to `convert`.
  public var forwardLoop: ((Module) throws -> Void)?
  /// The input for output comparisons.
  public var input: Tensor
  /// Configs of modes that might follow, for the chain-rule check (`quantize`, `export_student`
  /// and the mode itself are built in).
  public var followers: [String: JSONValue]
  /// The registry the plugin is added to.
  public var baseRegistry: Registry

  /// Configures the suite.
  public init(
    plugin: any QATPlugin.Type, mode: String, config: JSONValue, failingConfig: JSONValue? = nil,
    makeModel: @escaping () -> Module = { MLP([8, 12, 6], seed: 1) }, before: [ModeStep] = [],
    forwardLoop: ((Module) throws -> Void)? = nil, input: Tensor = GradientCheck.randn([16, 8], seed: 9),
    followers: [String: JSONValue] = [:], baseRegistry: Registry = .builtin
  ) {
    self.plugin = plugin
    self.mode = mode
    self.config = config
    self.failingConfig = failingConfig
    self.makeModel = makeModel
    self.before = before
    self.forwardLoop = forwardLoop
    self.input = input
    self.followers = followers
    self.baseRegistry = baseRegistry
  }

  /// Runs every check.
  public func run() -> ConformanceReport {
    var report = ConformanceReport(subject: "mode '\(mode)' (plugin \(plugin.name))")
    var registry = baseRegistry
    report.check("the plugin registers '\(mode)' as a mode") {
      try registry.register(plugin)
      return require(registry.entry(.mode, mode)?.plugin == plugin.name, "'\(mode)' is not registered by \(plugin.name)")
    }
    guard report.passed, let info = try? registry.mode(mode) else { return report }
    func prepared() throws -> Module { try convert(makeModel(), modes: before, registry: registry, forwardLoop: forwardLoop) }
    func fingerprint(_ m: Module, history: Bool = true) -> String {
      m.eval()
      let y = Tensor.withoutGrad { m(input).scalars }
      return "\(m.stateDict().map { "\($0.0)\($0.1.shape)\($0.1.scalars)" })|\(m.namedQuantizers().map(\.0))|\(history ? "\(m.modeHistory)" : "")|\(y)"
    }
    report.check("converts by name and records a config that decodes again") {
      let m = try convert(prepared(), modes: [.named(mode, config)], registry: registry, forwardLoop: forwardLoop)
      guard let last = m.modeHistory.last, last.name == mode else { return "the history does not end with '\(mode)': \(m.modeHistory.map(\.name))" }
      _ = try convert(prepared(), modes: [.named(mode, last.config)], registry: registry, forwardLoop: forwardLoop)
      return nil
    }
    report.check("an unknown config key is refused") {
      guard case .object(var o) = config else { return nil }
      o["__not_a_key__"] = .number(1)
      do {
        _ = try convert(prepared(), modes: [.named(mode, .object(o))], registry: registry, forwardLoop: forwardLoop)
        return "an unknown key was accepted: decode configs strictly (JSONValue.decode(_:context:))"
      } catch { return require("\(error)".contains("__not_a_key__"), "the error does not name the key: \(error)") }
    }
    if let allowed = info.allowedNext {
      var candidates: [String: JSONValue] = ["quantize": .object(["quantCfg": .array([])]), "export_student": .object([:]), mode: config]
      candidates.merge(followers) { _, new in new }
      for (name, followerConfig) in candidates.sorted(by: { $0.key < $1.key }) where !allowed.contains(name) && registry.entry(.mode, name) != nil {
        report.check("refuses '\(name)' after it (allowedNext)") {
          let m = try convert(prepared(), modes: [.named(mode, config)], registry: registry, forwardLoop: forwardLoop)
          let before = fingerprint(m)
          do {
            _ = try convert(m, modes: [.named(name, followerConfig)], registry: registry, forwardLoop: forwardLoop)
            return "'\(name)' was accepted after '\(mode)', whose allowedNext is \(allowed.sorted())"
          } catch RegistryError.chainNotAllowed {
            return require(fingerprint(m) == before, "the refused chain changed the model")
          }
        }
      }
    }
    if let failingConfig {
      report.check("a failing conversion leaves the model exactly as it was") {
        let m = try prepared()
        let before = fingerprint(m)
        do {
          _ = try convert(m, modes: [.named(mode, failingConfig)], registry: registry, forwardLoop: forwardLoop)
          return "the failing config \(failingConfig.text) converted"
        } catch {
          return require(fingerprint(m) == before, "the model changed after a failed conversion: \(error)")
        }
      }
    }
    if info.savesState {
      report.check("save → restore onto a fresh model is bit-identical") {
        let m = try convert(prepared(), modes: [.named(mode, config)], registry: registry, forwardLoop: forwardLoop)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("qat-mode-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try save(m, to: url, registry: registry)
        let restored = try restore(makeModel(), from: url, registry: registry)
        // The history as saved: each mode's updateForSave re-records it (an earlier mode's
        // record may describe quantizers a later mode replaced), so the restored model saves
        // the same file again rather than holding the in-memory records.
        let again = url.deletingPathExtension().appendingPathExtension("again.safetensors")
        defer { try? FileManager.default.removeItem(at: again) }
        try save(restored, to: again, registry: registry)
        let sameFile = try Data(contentsOf: url) == Data(contentsOf: again)
        return require(fingerprint(restored, history: false) == fingerprint(m, history: false), "the restored model differs (outputs, state or quantizers)")
          ?? require(restored.modeHistory.map(\.name) == m.modeHistory.map(\.name), "the restored history is \(restored.modeHistory.map(\.name)), not \(m.modeHistory.map(\.name))")
          ?? require(sameFile, "the restored model saves a different checkpoint (its recorded history or state differ)")
      }
      report.check("restore without the plugin fails naming it") {
        let m = try convert(prepared(), modes: [.named(mode, config)], registry: registry, forwardLoop: forwardLoop)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("qat-mode-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try save(m, to: url, registry: registry)
        do {
          try restore(makeModel(), from: url, registry: baseRegistry)
          return "restore succeeded without the plugin"
        } catch RegistryError.missingPlugin(_, _, let p) {
          return require(p == plugin.name, "the error names plugin '\(p)', not '\(plugin.name)'")
        }
      }
    }
    return report
  }
}
