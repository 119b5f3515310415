extension Module {
  /// The distillation loss of the last forward pass of a model converted with `kd_loss`:
  /// every criterion on its captured student / teacher outputs, combined by the balancer
  /// with `studentLoss` (e.g. cross-entropy on labels).
  ///
  /// ```swift
  /// let logits = model(x)
  /// let loss = try model.computeKDLoss(studentLoss: Loss.crossEntropy(logits, y))
  /// loss.backward(); optimizer.step()
  /// ```
  ///
  /// - Throws: ``KDError`` when the model is not a ``DistillationModel``, no forward pass
  ///   ran, captured shapes do not fit a criterion, or the balancer cannot combine the losses.
  public func computeKDLoss(studentLoss: Tensor? = nil, extras: CriterionExtras = .init()) throws -> Tensor {
    try asDistillationModel().kdLossDetails(studentLoss: studentLoss, extras: extras).total
  }

  /// The individual losses of the last forward pass for logging: each KD loss as
  /// `"<criterion>_<index>"` (e.g. `"logits_kl_0"`), then `"student_loss"` when given.
  ///
  /// - Throws: as ``computeKDLoss(studentLoss:extras:)``, except that no balancer is needed.
  public func computeKDLosses(studentLoss: Tensor? = nil, extras: CriterionExtras = .init()) throws -> [(String, Tensor)] {
    let model = try asDistillationModel()
    return try model.kdLosses(extras: extras) + (studentLoss.map { [("student_loss", $0)] } ?? [])
  }

  /// The balanced total and the individual losses together (one evaluation of the criteria).
  ///
  /// - Throws: as ``computeKDLoss(studentLoss:extras:)``.
  public func computeKDLossWithParts(
    studentLoss: Tensor? = nil, extras: CriterionExtras = .init()
  ) throws -> (total: Tensor, losses: [(String, Tensor)]) {
    try asDistillationModel().kdLossDetails(studentLoss: studentLoss, extras: extras)
  }

  private func asDistillationModel() throws -> DistillationModel {
    guard let m = self as? DistillationModel else { throw KDError.notDistillationModel("\(type(of: self))") }
    return m
  }
}
