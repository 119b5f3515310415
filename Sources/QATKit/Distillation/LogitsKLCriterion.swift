/// Logits distillation: `KL(softmax(teacher/T) ‖ softmax(student/T)) · T²`, summed over the
/// last axis (classes or vocabulary) and averaged over rows (ModelOpt's
/// `LogitsDistillationLoss`, PyTorch `kl_div(..., reduction="batchmean")`).
///
/// Rows are all axes but the last, so `[batch, tokens, vocab]` outputs average over tokens;
/// ``CriterionExtras/mask`` (one value per token) leaves out padding.
///
/// JSON: `{"kind": "logits_kl", "temperature": 2}` (temperature defaults to 1).
public struct LogitsKLCriterion: JSONCriterion {
  /// `"logits_kl"`.
  public static let kind = "logits_kl"
  /// The softmax temperature `T` (> 0); the loss is scaled by `T²` so gradient magnitudes do
  /// not shrink as `T` grows.
  public let temperature: Float

  /// The kind.
  public var name: String { Self.kind }

  /// Creates the criterion.
  ///
  /// - Throws: ``ConfigError`` when `temperature` is not a finite number > 0.
  public init(temperature: Float = 1) throws {
    self.temperature = try KDJSON.positive(temperature, "\(Self.kind) criterion", "temperature")
  }

  /// Creates the criterion from `{"kind": "logits_kl", "temperature": T}`.
  public init(json: JSONValue) throws {
    let spec = try KDJSON.decode(Spec.self, from: json, kind: Self.kind)
    self.temperature = try KDJSON.positive(spec.temperature, "\(Self.kind) spec", "temperature")
  }

  /// The temperature-scaled KL divergence, masked by rows when `extras.mask` is set.
  public func loss(student: Tensor, teacher: Tensor, extras: CriterionExtras) -> Tensor {
    Loss.klDivergence(student: student, teacher: teacher, temperature: temperature, mask: extras.mask)
  }

  /// `{"kind": "logits_kl", "temperature": T}`.
  public var spec: JSONValue {
    .object(["kind": .string(Self.kind), "temperature": .number(Double(temperature))])
  }

  struct Spec: Codable, KindTagged {
    var kind: String?
    var temperature: Float

    enum CodingKeys: String, CodingKey { case kind, temperature }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      kind = try c.decodeIfPresent(String.self, forKey: .kind) ?? LogitsKLCriterion.kind
      temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? 1
    }
  }
}
