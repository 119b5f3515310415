/// The built-in criteria and balancers, creatable by `kind` from JSON.
///
/// The registry registers these types under their ``JSONCriterion/kind`` /
/// ``JSONLossBalancer/kind``; ``KDConfig/init(json:teacher:makeCriterion:makeBalancer:)``
/// uses ``makeCriterion(_:)`` and ``makeBalancer(_:)`` when no registry is involved.
public enum KDBuiltins {
  /// `logits_kl`, `mse`, `cosine`.
  public static var criterionTypes: [any JSONCriterion.Type] {
    [LogitsKLCriterion.self, MSECriterion.self, CosineCriterion.self]
  }

  /// `static`, `dynamic`.
  public static var balancerTypes: [any JSONLossBalancer.Type] { [StaticBalancer.self, DynamicBalancer.self] }

  /// A built-in criterion from its JSON spec (`{"kind": ..., ...}`).
  ///
  /// - Throws: ``ConfigError`` for a missing or unknown kind or a bad spec.
  public static func makeCriterion(_ json: JSONValue) throws -> any Criterion {
    try type(for: json, among: criterionTypes.map { ($0.kind, $0) }, what: "criterion").init(json: json)
  }

  /// A built-in balancer from its JSON spec (`{"kind": ..., ...}`).
  ///
  /// - Throws: ``ConfigError`` for a missing or unknown kind or a bad spec.
  public static func makeBalancer(_ json: JSONValue) throws -> any LossBalancer {
    try type(for: json, among: balancerTypes.map { ($0.kind, $0) }, what: "balancer").init(json: json)
  }

  private static func type<T>(for json: JSONValue, among types: [(String, T)], what: String) throws -> T {
    let context = "\(what) spec"
    guard case .string(let kind)? = json["kind"] else {
      throw ConfigError.missingKey(context, path: "kind")
    }
    guard let t = types.first(where: { $0.0 == kind })?.1 else {
      throw ConfigError.invalidValue(
        context, path: "kind",
        "unknown \(what) '\(kind)'; built-in: \(types.map(\.0).joined(separator: ", ")) (plugins add more through the registry)")
    }
    return t
  }
}
