/// How ``Loss/klDivergence(student:teacher:temperature:mask:reduction:)`` averages the
/// element-wise KL terms, with PyTorch's `F.kl_div` names.
///
/// For `rows` rows of `C` classes: ``batchMean`` sums over the classes and averages over the
/// rows (the per-sample KL divergence, the usual definition); ``mean`` averages over all
/// `rows × C` elements, so it equals ``batchMean`` divided by `C`. ModelOpt 0.47's
/// `LogitsDistillationLoss` uses ``mean`` (its default `reduction="mean"`); QATKit defaults to
/// ``batchMean``.
public enum KLReduction: String, Sendable, Codable, CaseIterable {
  /// Sum over classes, mean over rows (`reduction="batchmean"`): the per-sample KL.
  case batchMean = "batchmean"
  /// Mean over every element (`reduction="mean"`): ModelOpt's `LogitsDistillationLoss`.
  case mean
}
