/// Combines named distillation losses, and optionally the student's own loss, into the
/// one scalar that is back-propagated.
///
/// A balancer may learn its weights (uncertainty weighting learns one log-variance per
/// loss): it lists those tensors in ``learnableParameters()`` and the ``DistillationModel``
/// exposes them to the optimizer through `parameters()` (under `kd_balancer.`).
///
/// Plugins conform to this protocol (and to ``JSONLossBalancer`` to be created by name).
public protocol LossBalancer {
  /// A short name, e.g. `"static"`.
  var name: String { get }
  /// The total loss.
  ///
  /// - Parameters:
  ///   - losses: The KD losses, named and in the order of the criteria.
  ///   - studentLoss: The student's task loss (e.g. cross-entropy on labels), if any.
  /// - Throws: ``KDError`` when the inputs do not fit the balancer (e.g. a dynamic balancer
  ///   without a student loss).
  func balance(_ losses: [(String, Tensor)], studentLoss: Tensor?) throws -> Tensor
  /// Checks, before any training step, that the balancer can combine `kdLossCount` losses.
  func validate(kdLossCount: Int) throws
  /// Trainable tensors owned by the balancer (learned weights), with names such as
  /// `log_variance`; none by default.
  func learnableParameters() -> [(String, Tensor)]
  /// The JSON description recorded in the mode history.
  var spec: JSONValue { get }
}

extension LossBalancer {
  /// Accepts any number of losses.
  public func validate(kdLossCount: Int) throws {}

  /// No trainable tensors.
  public func learnableParameters() -> [(String, Tensor)] { [] }

  /// `{"kind": name}`.
  public var spec: JSONValue { .object(["kind": .string(name)]) }
}

/// A ``LossBalancer`` that can be created by name from JSON (recipes, the registry).
public protocol JSONLossBalancer: LossBalancer, SendableMetatype {
  /// The registry name, e.g. `"static"`.
  static var kind: String { get }
  /// Creates the balancer from its JSON spec, strictly (see ``JSONCriterion/init(json:)``).
  init(json: JSONValue) throws
}
