import QATKit
import QATRegistry

/// Registers the `rkd` distillation criterion: relational knowledge distillation (Park et
/// al., CVPR 2019), which matches the distances and angles between the examples of a batch
/// instead of each example's output. Use it in a `kd_loss` config:
/// `{"criterion": {"kind": "rkd", "distance_weight": 25, "angle_weight": 50}}`.
public enum RKDPlugin: QATPlugin {
  /// `"RKD"`.
  public static let name = "RKD"
  /// What it brings.
  public static let summary = "RKD: relational knowledge distillation, distance- and angle-wise (Park et al. 2019)"

  /// Registers the `rkd` criterion.
  public static func register(in registry: inout Registry) throws {
    try registry.register(
      criterion: RKDCriterion.kind, summary: "relational KD (Park et al. 2019): batch distances and angles, any widths"
    ) { try RKDCriterion(json: $0) }
  }
}
