import QATKit

/// The spec checks every suite of a plugin built from a `{"kind": ...}` JSON spec shares
/// (criteria, balancers): an unknown key is an error naming it, the kind's factory refuses a
/// spec of another kind, and invalid specs are refused with a ``ConfigError``.
struct KindSpecChecks {
  /// Builds through the registry (by the spec's `kind`).
  let build: (JSONValue) throws -> Void
  /// The registered factory of the kind under test, called directly.
  let factory: (JSONValue) throws -> Void
  /// What is built (`"criterion"`, `"balancer"`), for messages.
  let noun: String

  /// The unknown-key and other-kind checks of `spec`, tagged `tag`.
  func checkKeys(of spec: JSONValue, tag: String, into report: inout ConformanceReport) {
    report.check("an unknown key is an error naming it (\(tag))") {
      guard case .object(var o) = spec else { return "the spec is not a JSON object" }
      o["__not_a_key__"] = .number(1)
      do {
        try build(.object(o))
        return "an unknown key was accepted: decode with StrictJSON.decode(_:from:kind:)"
      } catch let e as ConfigError {
        return require("\(e)".contains("__not_a_key__"), "the error does not name the key: \(e)")
      }
    }
    report.check("the factory refuses a spec of another kind (\(tag))") {
      guard case .object(var o) = spec else { return "the spec is not a JSON object" }
      o["kind"] = .string("__another_kind__")
      return require((try? factory(.object(o))) == nil, "the factory built a \(noun) from a spec of kind '__another_kind__'")
    }
  }

  /// One check per spec in `invalid`: building it throws a ``ConfigError``.
  func checkRefuses(_ invalid: [JSONValue], into report: inout ConformanceReport) {
    for bad in invalid {
      report.check("refuses \(bad.text)") {
        do {
          try build(bad)
          return "accepted an invalid spec"
        } catch is ConfigError { return nil }
      }
    }
  }
}
