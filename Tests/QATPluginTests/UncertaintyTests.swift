import Foundation
import QATKit
import QATPluginTesting
import QATPluginUncertainty
import QATPlugins
import QATRegistry
import Testing

/// Uncertainty weighting (Kendall, Gal, Cipolla, CVPR 2018).
@Suite struct UncertaintyTests {
  @Test func conforms() {
    let report = BalancerConformance(
      plugin: UncertaintyPlugin.self, kind: "uncertainty",
      specs: [.object(["kind": .string("uncertainty"), "kd_losses": .number(2)]),
              .object(["kind": .string("uncertainty"), "kd_losses": .number(2), "initial_log_variance": .number(0.5)])],
      invalidSpecs: [.object(["kind": .string("uncertainty"), "kd_losses": .number(0)]),
                     .object(["kind": .string("uncertainty"), "kd_losses": .string("two")])],
      kdLossCount: 2
    ).run()
    #expect(report.passed, "\(report)")
  }

  @Test func aWrongLossCountIsAConfigError() throws {
    let b = try UncertaintyBalancer(kdLosses: 2)
    #expect { try b.validate(kdLossCount: 3) } throws: { "\($0)".contains("\"kd_losses\": 3") }
    #expect(throws: KDError.self) { try b.balance([("a", Tensor(scalar: 1))], studentLoss: nil) }
  }

  /// The paper's mechanism: trained with the model's optimizer, each log-variance settles at
  /// `log L_i`, so the weighted terms `exp(−s_i)·L_i` of losses 2500× apart all come to 1: the
  /// balancer equalizes their scales without hand-tuned weights.
  @Test func learnedWeightsEqualizeLossScales() throws {
    let b = try UncertaintyBalancer(kdLosses: 2)
    let losses: [Float] = [0.02, 50], student: Float = 1.5
    let optimizer = Adam(b.learnableParameters().map(\.1), learningRate: 0.05)
    for _ in 0..<1500 {
      optimizer.zeroGrad()
      try b.balance([("kd_0", Tensor(scalar: losses[0])), ("kd_1", Tensor(scalar: losses[1]))], studentLoss: Tensor(scalar: student)).backward()
      optimizer.step()
    }
    let s = b.logVariance.scalars
    print("Uncertainty claim (losses 0.02, 50, student 1.5; 1500 Adam steps): s = \(s), log L = \((losses + [student]).map(log)), weights \(b.weights)")
    for (si, l) in zip(s, losses + [student]) { #expect(abs(si - log(l)) < 0.02, "s \(s), log L \((losses + [student]).map(log))") }
    let weighted = zip(b.weights, losses + [student]).map { $0 * $1 }
    #expect(weighted.allSatisfy { abs($0 - 1) < 0.03 }, "\(weighted)")
  }
}
