import Foundation
import QATKit
import QATPluginTesting
import QATPluginUncertainty
import QATPlugins
import QATRegistry
import Testing

/// Plugins by name: quantize configs, kd_loss configs, checkpoints.
@Suite struct ByNameTests {
  /// LSQ's options have defaults, so `"algorithmOptions": {}` works; a typo names the
  /// quantizer path and the nearest option.
  @Test func lsqOptionsByName() throws {
    let ok = try JSONValue(parsing: #"{"quantCfg": [{"quantizerName": "*weight_quantizer", "cfg": {"format": "int4", "algorithm": "lsq", "algorithmOptions": {}}}]}"#)
    try convert(MLP([4, 3]), modes: [.named("quantize", ok)], registry: InTreePlugins.registry)
    let typo = try JSONValue(parsing: #"{"quantCfg": [{"quantizerName": "*weight_quantizer", "cfg": {"format": "int4", "algorithm": "lsq", "algorithmOptions": {"gradScal": false}}}]}"#)
    #expect {
      try convert(MLP([4, 3]), modes: [.named("quantize", typo)], registry: InTreePlugins.registry)
    } throws: { "\($0)".contains("unknown key 'fc1.weight_quantizer.algorithmOptions.gradScal' (did you mean 'gradScale'?)") }
  }

  @Test func kdConfigResolvesPluginKindsThroughTheRegistry() throws {
    let teacher = MLP([8, 6, 4], seed: 1)
    let json = try JSONValue(parsing: """
      {"criteria": [{"criterion": {"kind": "rkd", "angle_weight": 10}},
                    {"student_layer": "fc1", "teacher_layer": "fc1", "criterion": {"kind": "mse"}}],
       "balancer": {"kind": "uncertainty", "kd_losses": 2}}
      """)
    let kd = try KDConfig(json: json, teacher: teacher, registry: InTreePlugins.registry)
    #expect(kd.criteria.map(\.criterion.name) == ["rkd", "mse"])
    let model = try convert(MLP([8, 6, 4], seed: 2), modes: [.kdLoss(kd)], registry: InTreePlugins.registry)
    // The balancer's learned weights are parameters and state of the distillation model.
    #expect(model.namedParameters().map(\.0).contains("kd_balancer.log_variance"))
    let balancer = try #require(kd.balancer as? UncertaintyBalancer)
    #expect(model.parameters().contains { $0 === balancer.logVariance })
    // Without the registry only built-ins resolve; with it, a typo names its path and the nearest kind.
    #expect(throws: ConfigError.self) { try KDConfig(json: json, teacher: teacher) }
    let typo = try JSONValue(parsing: #"{"criteria": [{"criterion": {"kind": "rdk"}}]}"#)
    #expect {
      try KDConfig(json: typo, teacher: teacher, registry: InTreePlugins.registry)
    } throws: { e in
      guard case ConfigError.invalidValue(_, let path, let message) = e else { return false }
      return path == "criteria[0].criterion.kind" && message.contains("did you mean 'rkd'") && message.contains("logits_kl")
    }
    let badBalancer = try JSONValue(parsing: #"{"criteria": [{"criterion": {"kind": "mse"}}], "balancer": {"kind": "uncertainty", "kd_loses": 1}}"#)
    #expect {
      try KDConfig(json: badBalancer, teacher: teacher, registry: InTreePlugins.registry)
    } throws: { "\($0)".contains("'balancer.kd_loses' (did you mean 'kd_losses'?)") }
  }

  /// `.named("kd_loss", json)` cannot work (no teacher); its error says what does.
  @Test func namedKDLossExplainsTheTeacher() throws {
    let json = try JSONValue(parsing: #"{"criteria": [{"criterion": {"kind": "logits_kl"}}]}"#)
    #expect {
      try convert(MLP([4, 3]), modes: [.named("kd_loss", json)], registry: InTreePlugins.registry)
    } throws: { "\($0)".contains("KDConfig(json: criteriaJSON, teacher: teacher, registry: registry)") }
  }
}
