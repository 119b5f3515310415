import QATKit
import QATRegistry

/// Registers the `uncertainty` loss balancer: learned homoscedastic-uncertainty weights
/// (Kendall, Gal, Cipolla, CVPR 2018). Use it in a `kd_loss` config:
/// `{"balancer": {"kind": "uncertainty", "kd_losses": 2}}`.
public enum UncertaintyPlugin: QATPlugin {
  /// `"Uncertainty"`.
  public static let name = "Uncertainty"
  /// What it brings.
  public static let summary = "uncertainty weighting: learned loss weights exp(−s)·L + s (Kendall et al. 2018)"

  /// Registers the `uncertainty` balancer.
  public static func register(in registry: inout Registry) throws {
    try registry.register(
      balancer: UncertaintyBalancer.kind, summary: "learned weights exp(−s_i)·L_i + s_i per loss (Kendall et al. 2018)"
    ) { try UncertaintyBalancer(json: $0) }
  }
}
