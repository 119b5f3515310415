/// Hidden-state cosine distillation: `1 − cos(student, teacher)` along the last axis,
/// averaged over rows (Megatron's `HiddenStateCosineLoss`); masked by rows when
/// ``CriterionExtras/mask`` is set.
///
/// JSON: `{"kind": "cosine"}`.
public struct CosineCriterion: JSONCriterion {
  /// `"cosine"`.
  public static let kind = "cosine"
  /// Keeps the norms away from zero (`√(‖x‖² + eps²)`).
  public let eps: Float

  /// The kind.
  public var name: String { Self.kind }

  /// Creates the criterion.
  public init(eps: Float = 1e-8) { self.eps = eps }

  /// Creates the criterion from `{"kind": "cosine", "eps": 1e-8}` (`eps` optional).
  public init(json: JSONValue) throws {
    let spec = try KDJSON.decode(Spec.self, from: json, kind: Self.kind)
    self.eps = try KDJSON.positive(spec.eps, "\(Self.kind) spec", "eps")
  }

  /// The mean cosine distance of the rows.
  public func loss(student: Tensor, teacher: Tensor, extras: CriterionExtras) -> Tensor {
    guard let mask = extras.mask else { return Loss.cosine(student, teacher, eps: eps) }
    let a = RowReduction.matrix(student), b = RowReduction.matrix(teacher)
    let dot = (a * b).sum(axis: -1)
    let na = ((a * a).sum(axis: -1) + eps * eps).sqrt()
    let nb = ((b * b).sum(axis: -1) + eps * eps).sqrt()
    return RowReduction.mean(1 - dot / (na * nb), mask: mask)
  }

  /// `{"kind": "cosine", "eps": eps}`.
  public var spec: JSONValue { .object(["kind": .string(Self.kind), "eps": .number(Double(eps))]) }

  struct Spec: Codable, KindTagged {
    var kind: String?
    var eps: Float

    enum CodingKeys: String, CodingKey { case kind, eps }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      kind = try c.decodeIfPresent(String.self, forKey: .kind) ?? CosineCriterion.kind
      eps = try c.decodeIfPresent(Float.self, forKey: .eps) ?? 1e-8
    }
  }
}
