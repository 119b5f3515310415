/// Several optimizers stepped together, e.g. model weights at one learning rate and learned
/// quantizer ranges at another (PyTorch's parameter groups).
///
/// Setting ``learningRate`` (as schedules do) scales every member by the same factor relative
/// to its initial rate; reading it gives the first member's rate.
public final class OptimizerGroup: Optimizer {
  private let members: [any Optimizer]
  private let initial: [Float]

  /// Groups `members` (at least one).
  public init(_ members: [any Optimizer]) {
    precondition(!members.isEmpty, "OptimizerGroup needs at least one optimizer")
    self.members = members
    initial = members.map(\.learningRate)
  }

  /// The first member's rate; setting it rescales all members proportionally.
  public var learningRate: Float {
    get { members[0].learningRate }
    set {
      let factor = newValue / initial[0]
      for (m, lr) in zip(members, initial) { m.learningRate = lr * factor }
    }
  }

  /// Steps every member.
  public func step() { for m in members { m.step() } }
  /// Clears every member's gradients.
  public func zeroGrad() { for m in members { m.zeroGrad() } }
}
