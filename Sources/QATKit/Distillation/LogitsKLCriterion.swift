/// Logits distillation: `KL(softmax(teacher/T) ‖ softmax(student/T)) · T²`, ModelOpt's
/// `LogitsDistillationLoss` up to the reduction.
///
/// By default (``KLReduction/batchMean``) the KL terms are summed over the last axis (classes
/// or vocabulary) and averaged over rows: the per-sample KL divergence, PyTorch's `kl_div(...,
/// reduction="batchmean")`. ModelOpt 0.47 uses `reduction="mean"`, the mean over rows ×
/// classes, which is the per-sample value divided by the class count: pass
/// `reduction: .mean` to reproduce ModelOpt's loss values (and its smaller gradients).
///
/// Rows are all axes but the last, so `[batch, tokens, vocab]` outputs average over tokens;
/// ``CriterionExtras/mask`` (one value per token) leaves out padding.
///
/// JSON: `{"kind": "logits_kl", "temperature": 2, "reduction": "mean"}` (temperature defaults
/// to 1, reduction to `"batchmean"`).
public struct LogitsKLCriterion: JSONCriterion {
  /// `"logits_kl"`.
  public static let kind = "logits_kl"
  /// The softmax temperature `T` (> 0); the loss is scaled by `T²` so gradient magnitudes do
  /// not shrink as `T` grows.
  public let temperature: Float
  /// How the KL terms are averaged (see ``KLReduction``).
  public let reduction: KLReduction

  /// The kind.
  public var name: String { Self.kind }

  /// Creates the criterion.
  ///
  /// - Throws: ``ConfigError`` when `temperature` is not a finite number > 0.
  public init(temperature: Float = 1, reduction: KLReduction = .batchMean) throws {
    self.temperature = try KDJSON.positive(temperature, "\(Self.kind) criterion", "temperature")
    self.reduction = reduction
  }

  /// Creates the criterion from `{"kind": "logits_kl", "temperature": T, "reduction": "mean"}`.
  public init(json: JSONValue) throws {
    let spec = try KDJSON.decode(Spec.self, from: json, kind: Self.kind)
    self.temperature = try KDJSON.positive(spec.temperature, "\(Self.kind) spec", "temperature")
    self.reduction = spec.reduction
  }

  /// The temperature-scaled KL divergence, masked by rows when `extras.mask` is set.
  public func loss(student: Tensor, teacher: Tensor, extras: CriterionExtras) -> Tensor {
    Loss.klDivergence(
      student: student, teacher: teacher, temperature: temperature, mask: extras.mask, reduction: reduction)
  }

  /// `{"kind": "logits_kl", "temperature": T}`, plus `"reduction"` when it is not the default.
  public var spec: JSONValue {
    var o: [String: JSONValue] = ["kind": .string(Self.kind), "temperature": .number(Double(temperature))]
    if reduction != .batchMean { o["reduction"] = .string(reduction.rawValue) }
    return .object(o)
  }

  struct Spec: Codable, KindTagged {
    var kind: String?
    var temperature: Float
    var reduction: KLReduction

    enum CodingKeys: String, CodingKey { case kind, temperature, reduction }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      kind = try c.decodeIfPresent(String.self, forKey: .kind) ?? LogitsKLCriterion.kind
      temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? 1
      reduction = try c.decodeIfPresent(KLReduction.self, forKey: .reduction) ?? .batchMean
    }
  }
}
