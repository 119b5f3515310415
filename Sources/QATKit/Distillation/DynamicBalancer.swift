/// Rescales every KD loss to the magnitude of the student loss, with detached ratios
/// (Megatron's `LogitsAndIntermediatesLossBalancer`):
/// `total = s + kdScale · mean_i( (|s̄| / k̄ᵢ) · kdᵢ )`, where `s̄` and `k̄ᵢ` are the current
/// values treated as constants.
///
/// Each KD term therefore contributes about `kdScale · |s|` to the total while its gradient
/// keeps its own direction, scaled by `|s̄| / k̄ᵢ`. A KD loss that is (numerically) zero gets
/// ratio 0. The student loss is required.
///
/// JSON: `{"kind": "dynamic", "kd_scale": 1}`.
public struct DynamicBalancer: JSONLossBalancer {
  /// `"dynamic"`.
  public static let kind = "dynamic"
  /// The weight of the rescaled KD term relative to the student loss.
  public let kdScale: Float

  /// The kind.
  public var name: String { Self.kind }

  /// Creates the balancer.
  ///
  /// - Throws: ``ConfigError`` when `kdScale` is negative or not finite.
  public init(kdScale: Float = 1) throws {
    guard kdScale.isFinite, kdScale >= 0 else {
      throw ConfigError.invalidValue("\(Self.kind) balancer", path: "kd_scale", "must be a finite number ≥ 0, got \(kdScale)")
    }
    self.kdScale = kdScale
  }

  /// Creates the balancer from `{"kind": "dynamic", "kd_scale": 1}` (`kd_scale` optional).
  public init(json: JSONValue) throws {
    let spec = try KDJSON.decode(Spec.self, from: json, kind: Self.kind)
    do { try self.init(kdScale: spec.kdScale) } catch let e as ConfigError {
      throw e.prefixed("", context: "\(Self.kind) spec")
    }
  }

  /// The student loss plus the rescaled mean of the KD losses.
  ///
  /// - Throws: ``KDError/balancer(_:)`` without a student loss or KD losses.
  public func balance(_ losses: [(String, Tensor)], studentLoss: Tensor?) throws -> Tensor {
    guard let studentLoss else {
      throw KDError.balancer("dynamic: rescales the KD losses to the student loss; pass studentLoss")
    }
    guard !losses.isEmpty else { throw KDError.balancer("dynamic: no KD losses") }
    let magnitude = Swift.abs(studentLoss.item)
    var kd: Tensor?
    for (_, l) in losses {
      let value = l.item
      let ratio: Float = Swift.abs(value) > 1e-12 ? magnitude / value : 0
      let term = l * ratio
      kd = kd.map { $0 + term } ?? term
    }
    return studentLoss + kd! * (kdScale / Float(losses.count))
  }

  /// `{"kind": "dynamic", "kd_scale": s}`.
  public var spec: JSONValue { .object(["kind": .string(Self.kind), "kd_scale": .number(Double(kdScale))]) }

  struct Spec: Codable, KindTagged {
    var kind: String?
    var kdScale: Float

    enum CodingKeys: String, CodingKey { case kind, kdScale = "kd_scale" }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      kind = try c.decodeIfPresent(String.self, forKey: .kind) ?? DynamicBalancer.kind
      kdScale = try c.decodeIfPresent(Float.self, forKey: .kdScale) ?? 1
    }
  }
}
