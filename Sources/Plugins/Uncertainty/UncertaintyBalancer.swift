import Foundation
import QATKit

/// Uncertainty weighting (Kendall, Gal, Cipolla, "Multi-Task Learning Using Uncertainty to
/// Weigh Losses", CVPR 2018): each loss `L_i` gets a learned log-variance `s_i = log σ_i²` and
///
///     total = Σ_i exp(−s_i) · L_i + s_i
///
/// (the paper's objective with `s = log σ²`, constant factors dropped, as its common
/// implementations write it). The optimizer trains `s` with the model: at a fixed loss the
/// minimum is `s_i = log L_i`, so each loss's effective weight `exp(−s_i)` settles near
/// `1 / L_i` and losses of very different scales contribute comparably, without hand-tuned
/// weights.
///
/// The terms are the KD losses in criterion order, then the student's loss when given (its own
/// `s`). The log-variances are one trainable tensor `log_variance` of `kd_losses + 1` values
/// (the last for the student loss; untouched when no student loss is passed), which the
/// distillation model lists under `kd_balancer.` so optimizers and checkpoints see it.
///
/// JSON: `{"kind": "uncertainty", "kd_losses": 1, "initial_log_variance": 0}`.
public final class UncertaintyBalancer: JSONLossBalancer {
  /// `"uncertainty"`.
  public static let kind = "uncertainty"

  /// The JSON options.
  public struct Options: PluginOptions, Equatable {
    /// How many KD losses it combines (the number of criteria).
    public var kdLosses = 1
    /// The starting `s` of every term (0: weight 1).
    public var initialLogVariance: Float = 0
    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
      case kdLosses = "kd_losses", initialLogVariance = "initial_log_variance"
    }
  }

  /// The options it was created with.
  public let options: Options
  /// `s_i` per KD loss, then `s` of the student loss: shape `[kdLosses + 1]`, trainable.
  public let logVariance: Tensor

  /// The kind.
  public var name: String { Self.kind }

  /// Creates a balancer for `kdLosses` KD losses (plus the student loss).
  ///
  /// - Throws: ``ConfigError`` when `kdLosses` is not in 1...64 or the initial value is not finite.
  public convenience init(kdLosses: Int = 1, initialLogVariance: Float = 0) throws {
    var o = Options()
    o.kdLosses = kdLosses
    o.initialLogVariance = initialLogVariance
    try self.init(options: o, context: "\(Self.kind) balancer")
  }

  /// Creates the balancer from its JSON spec.
  public convenience init(json: JSONValue) throws {
    try self.init(options: StrictJSON.decode(Options.self, from: json, kind: Self.kind), context: "\(Self.kind) spec")
  }

  private init(options: Options, context: String) throws {
    _ = try StrictJSON.inRange(options.kdLosses, 1...64, context, path: "kd_losses")
    guard options.initialLogVariance.isFinite else {
      throw ConfigError.invalidValue(context, path: "initial_log_variance", "must be finite, got \(options.initialLogVariance)")
    }
    self.options = options
    logVariance = Tensor.full([options.kdLosses + 1], options.initialLogVariance, requiresGrad: true)
  }

  /// Requires one term per KD loss.
  public func validate(kdLossCount: Int) throws {
    guard kdLossCount == options.kdLosses else {
      throw ConfigError.invalidValue(
        "\(Self.kind) balancer", path: "kd_losses",
        "is \(options.kdLosses) but there are \(kdLossCount) KD loss(es); set \"kd_losses\": \(kdLossCount)")
    }
  }

  /// `Σ exp(−s_i)·L_i + s_i` over the KD losses and the student loss, if any.
  public func balance(_ losses: [(String, Tensor)], studentLoss: Tensor?) throws -> Tensor {
    guard losses.count == options.kdLosses else {
      throw KDError.balancer("uncertainty: configured for \(options.kdLosses) KD loss(es), got \(losses.count)")
    }
    let terms = losses.map(\.1) + (studentLoss.map { [$0] } ?? [])
    if let bad = terms.first(where: { $0.count != 1 }) {
      throw KDError.balancer("uncertainty: every loss must be a single number, got shape \(bad.shape)")
    }
    let indices = Array(0..<losses.count) + (studentLoss == nil ? [] : [options.kdLosses])
    let s = logVariance.gather(indices)
    // Each term has one element, so the reshape cannot fail.
    let stacked = Tensor.concat(terms.map { try! $0.reshaped([1]) }, axis: 0)
    return ((s * -1).exp() * stacked + s).sum()
  }

  /// The trained log-variances.
  public func learnableParameters() -> [(String, Tensor)] { [("log_variance", logVariance)] }

  /// The effective weight `exp(−s_i)` of each term (KD losses, then the student loss).
  public var weights: [Float] { logVariance.scalars.map { exp(-$0) } }

  /// `{"kind": "uncertainty", "kd_losses": n, "initial_log_variance": s0}` (the trained values
  /// live in the state dict, not in the spec).
  public var spec: JSONValue {
    .object([
      "kind": .string(Self.kind), "kd_losses": .number(Double(options.kdLosses)),
      "initial_log_variance": .number(Double(options.initialLogVariance)),
    ])
  }
}
