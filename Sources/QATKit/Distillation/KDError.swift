/// Errors of a ``DistillationModel`` at training time (configuration errors are
/// ``ConfigError``s thrown before any step).
public enum KDError: Error, Equatable, CustomStringConvertible {
  /// The captured student and teacher outputs of a criterion cannot be compared.
  case shapeMismatch(criterion: String, studentLayer: String, teacherLayer: String, detail: String)
  /// A layer in the criteria did not run during the last forward pass.
  case notCaptured(role: String, layer: String)
  /// ``Module/computeKDLoss(studentLoss:extras:)`` before any forward pass.
  case noForwardPass
  /// The mask in the extras does not have one value per row of an output.
  case maskMismatch(criterion: String, rows: Int, maskCount: Int)
  /// Several losses, or a student loss, and no balancer to combine them.
  case balancerRequired(String)
  /// A balancer cannot combine the given losses.
  case balancer(String)
  /// A criterion returned a loss that is not a scalar.
  case nonScalarLoss(criterion: String, shape: [Int])
  /// The model is not a ``DistillationModel`` (no `kd_loss` mode applied).
  case notDistillationModel(String)
  /// The distillation model was exported; use the returned student.
  case exported

  /// A message naming the problem and what to do.
  public var description: String {
    switch self {
    case .shapeMismatch(let c, let s, let t, let d):
      return "kd_loss criterion '\(c)' (student layer '\(s.isEmpty ? "<output>" : s)', teacher layer '\(t.isEmpty ? "<output>" : t)'): \(d); "
        + "pick layers of matching width or use an adapter (MSECriterion(adapterFrom:to:))"
    case .notCaptured(let role, let layer):
      return "kd_loss: the \(role) layer '\(layer.isEmpty ? "<output>" : layer)' did not run in the last forward pass"
    case .noForwardPass:
      return "kd_loss: computeKDLoss needs a forward pass of the distillation model first (call model(x))"
    case .maskMismatch(let c, let rows, let n):
      return "kd_loss criterion '\(c)': the mask has \(n) values but the outputs have \(rows) rows"
    case .balancerRequired(let m): return "kd_loss: \(m); set a balancer in KDConfig"
    case .balancer(let m): return "kd_loss balancer: \(m)"
    case .nonScalarLoss(let c, let shape):
      return "kd_loss criterion '\(c)' returned a tensor of shape \(shape); a criterion must return a scalar"
    case .notDistillationModel(let type):
      return "expected a DistillationModel (a model converted with the kd_loss mode), got a \(type)"
    case .exported:
      return "kd_loss: this distillation model was exported; train or save the returned student instead"
    }
  }
}
