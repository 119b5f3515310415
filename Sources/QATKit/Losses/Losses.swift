/// Loss functions; each returns a scalar tensor (mean over the batch) that records its graph.
public enum Loss {
  /// Cross-entropy between `logits [N, C]` and integer `labels`, with optional label smoothing
  /// `ε` (targets `1-ε` on the label plus `ε/C` everywhere, as PyTorch).
  public static func crossEntropy(_ logits: Tensor, _ labels: [Int], labelSmoothing: Float = 0) -> Tensor {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count,
      "crossEntropy: logits \(logits.shape) vs \(labels.count) labels")
    let (n, c) = (logits.shape[0], logits.shape[1])
    var target = [Float](repeating: labelSmoothing / Float(c), count: n * c)
    for (i, y) in labels.enumerated() {
      precondition(y >= 0 && y < c, "crossEntropy: label \(y) out of 0..<\(c)")
      target[i * c + y] += 1 - labelSmoothing
    }
    let t = Tensor(shape: [n, c], storage: target)
    return -(logits.logSoftmax(axis: -1) * t).sum() / Float(n)
  }

  /// Mean squared error between equally shaped tensors.
  public static func mse(_ prediction: Tensor, _ target: Tensor) -> Tensor {
    precondition(prediction.shape == target.shape, "mse: \(prediction.shape) vs \(target.shape)")
    let d = prediction - target
    return (d * d).mean()
  }

  /// Distillation KL divergence `KL(softmax(t/T) ‖ softmax(s/T)) · T²`. The teacher side is
  /// treated as a constant.
  ///
  /// With the default ``KLReduction/batchMean`` the terms are summed over classes (the last
  /// axis) and averaged over rows, the per-sample KL divergence (PyTorch `kl_div(...,
  /// reduction="batchmean")` on rows of the last axis); ``KLReduction/mean`` averages over
  /// rows × classes, ModelOpt 0.47's `LogitsDistillationLoss` (`reduction="mean"`), which is
  /// the per-sample value divided by the class count. With `mask` (one value per row, 0 or 1),
  /// rows with 0 are excluded and the mean is over the kept rows.
  public static func klDivergence(
    student: Tensor, teacher: Tensor, temperature: Float = 1, mask: [Float]? = nil,
    reduction: KLReduction = .batchMean
  ) -> Tensor {
    precondition(student.shape == teacher.shape, "klDivergence: student \(student.shape) vs teacher \(teacher.shape)")
    let c = student.shape.last ?? 1
    let rows = student.count / Swift.max(c, 1)
    let s2 = student.reshapedUnchecked([rows, c]), t2 = teacher.detach().reshapedUnchecked([rows, c])
    let logP = (t2 / temperature).logSoftmax(axis: -1)
    let p = logP.exp()
    let logQ = (s2 / temperature).logSoftmax(axis: -1)
    var perRow = (p * (logP - logQ)).sum(axis: -1)
    var denom = Float(rows)
    if let mask {
      precondition(mask.count == rows, "klDivergence: mask has \(mask.count) values for \(rows) rows")
      perRow = perRow * Tensor(shape: [rows], storage: mask)
      denom = Swift.max(mask.reduce(0, +), 1)
    }
    if reduction == .mean { denom *= Float(Swift.max(c, 1)) }
    return perRow.sum() * (temperature * temperature / denom)
  }

  /// `1 - cos(a, b)` along the last axis, averaged over the other axes.
  public static func cosine(_ a: Tensor, _ b: Tensor, eps: Float = 1e-8) -> Tensor {
    precondition(a.shape == b.shape, "cosine: \(a.shape) vs \(b.shape)")
    let dot = (a * b).sum(axis: -1)
    let na = ((a * a).sum(axis: -1) + eps * eps).sqrt()
    let nb = ((b * b).sum(axis: -1) + eps * eps).sqrt()
    return (1 - dot / (na * nb)).mean()
  }
}
