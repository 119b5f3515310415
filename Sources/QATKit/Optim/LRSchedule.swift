import Foundation

/// A learning rate as a function of the step (0-based).
public enum LRSchedule: Sendable, Codable, Equatable {
  /// The base rate throughout.
  case constant
  /// Multiplies by `gamma` every `every` steps.
  case step(every: Int, gamma: Float)
  /// Cosine decay from the base rate to `minimum` over `total` steps.
  case cosine(total: Int, minimum: Float)
  /// Linear warm-up over `steps` steps, then `then`.
  indirect case warmup(steps: Int, then: LRSchedule)

  /// The rate at `step` for a base rate `base`.
  public func rate(at step: Int, base: Float) -> Float {
    switch self {
    case .constant: return base
    case .step(let every, let gamma): return base * _powf(gamma, Float(step / Swift.max(every, 1)))
    case .cosine(let total, let minimum):
      let t = Float(Swift.min(step, total)) / Float(Swift.max(total, 1))
      return minimum + (base - minimum) * 0.5 * (1 + Float(cos(Double.pi * Double(t))))
    case .warmup(let steps, let then):
      if step < steps { return base * Float(step + 1) / Float(steps) }
      return then.rate(at: step - steps, base: base)
    }
  }
}
