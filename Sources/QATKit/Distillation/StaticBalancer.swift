/// Fixed weights: `Σ wᵢ·kdᵢ + (1 − Σ wᵢ)·studentLoss` (ModelOpt's `StaticLossBalancer`).
///
/// One weight per KD loss, each ≥ 0, summing to at most 1; the student loss gets the rest.
/// Without a student loss the total is `Σ wᵢ·kdᵢ`.
///
/// JSON: `{"kind": "static", "kd_weights": [0.5]}`.
public struct StaticBalancer: JSONLossBalancer {
  /// `"static"`.
  public static let kind = "static"
  /// The weight of each KD loss, in the order of the criteria.
  public let kdWeights: [Float]

  /// The kind.
  public var name: String { Self.kind }

  /// The weight of the student loss, `1 − Σ kdWeights`.
  public var studentWeight: Float { Swift.max(0, 1 - kdWeights.reduce(0, +)) }

  /// Creates a balancer with one weight per KD loss.
  ///
  /// - Throws: ``ConfigError`` when a weight is negative or not finite, when there are
  ///   none, or when they sum above 1.
  public init(kdWeights: [Float]) throws {
    let context = "\(Self.kind) balancer"
    guard !kdWeights.isEmpty else {
      throw ConfigError.invalidValue(context, path: "kd_weights", "needs one weight per KD loss, got none")
    }
    for (i, w) in kdWeights.enumerated() where !(w.isFinite && w >= 0) {
      throw ConfigError.invalidValue(context, path: "kd_weights[\(i)]", "must be a finite weight ≥ 0, got \(w)")
    }
    let total = kdWeights.reduce(0, +)
    guard total <= 1 + 1e-6 else {
      throw ConfigError.invalidValue(
        context, path: "kd_weights",
        "the KD weights \(kdWeights) sum to \(total) > 1; the student loss weight 1 − Σ would be negative")
    }
    self.kdWeights = kdWeights
  }

  /// Creates a balancer for a single KD loss with weight `kdWeight` (the student loss gets
  /// `1 − kdWeight`).
  public init(kdWeight: Float = 0.5) throws { try self.init(kdWeights: [kdWeight]) }

  /// Creates the balancer from `{"kind": "static", "kd_weights": [...]}` (a single number is
  /// accepted for one KD loss; default `[0.5]`).
  public init(json: JSONValue) throws {
    let spec = try KDJSON.decode(Spec.self, from: json, kind: Self.kind)
    do { try self.init(kdWeights: spec.kdWeights) } catch let e as ConfigError {
      throw e.prefixed("", context: "\(Self.kind) spec")
    }
  }

  /// Requires one weight per KD loss.
  public func validate(kdLossCount: Int) throws {
    guard kdLossCount == kdWeights.count else {
      throw ConfigError.invalidValue(
        "\(Self.kind) balancer", path: "kd_weights",
        "has \(kdWeights.count) weight(s) for \(kdLossCount) KD loss(es); give one weight per criterion")
    }
  }

  /// `Σ wᵢ·kdᵢ + (1 − Σ wᵢ)·studentLoss`.
  public func balance(_ losses: [(String, Tensor)], studentLoss: Tensor?) throws -> Tensor {
    guard losses.count == kdWeights.count else {
      throw KDError.balancer("static: \(kdWeights.count) weight(s) for \(losses.count) KD loss(es)")
    }
    var total = losses[0].1 * kdWeights[0]
    for (w, (_, l)) in zip(kdWeights, losses).dropFirst() { total = total + l * w }
    if let studentLoss { total = total + studentLoss * (1 - kdWeights.reduce(0, +)) }
    return total
  }

  /// `{"kind": "static", "kd_weights": [...]}`.
  public var spec: JSONValue {
    .object(["kind": .string(Self.kind), "kd_weights": .array(kdWeights.map { .number(Double($0)) })])
  }

  struct Spec: Codable, KindTagged {
    var kind: String?
    var kdWeights: [Float]

    enum CodingKeys: String, CodingKey { case kind, kdWeights = "kd_weights" }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      kind = try c.decodeIfPresent(String.self, forKey: .kind) ?? StaticBalancer.kind
      if let one = try? c.decode(Float.self, forKey: .kdWeights) {
        kdWeights = [one]
      } else {
        kdWeights = try c.decodeIfPresent([Float].self, forKey: .kdWeights) ?? [0.5]
      }
    }
  }
}
