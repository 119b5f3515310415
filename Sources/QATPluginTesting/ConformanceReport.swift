/// The outcome of a conformance suite: every check it ran, passed or failed, with the reason.
///
/// Framework-neutral, so the same suite works from Swift Testing and from XCTest:
///
/// ```swift
/// #expect(report.passed, "\(report)")              // Swift Testing
/// XCTAssertTrue(report.passed, report.description)  // XCTest
/// ```
public struct ConformanceReport: CustomStringConvertible, Sendable {
  /// One check.
  public struct Check: Sendable, CustomStringConvertible {
    /// What was checked, e.g. `"save → restore is bit-identical (weights, int(bits: 4, signed: true))"`.
    public let name: String
    /// Whether it held.
    public let passed: Bool
    /// Why it failed (empty when it passed).
    public let detail: String

    /// `✓ name` or `✗ name: detail`.
    public var description: String { passed ? "✓ \(name)" : "✗ \(name): \(detail)" }
  }

  /// What was tested, e.g. `"quantizer 'ttq' (plugin TTQ)"`.
  public let subject: String
  /// Every check, in the order run.
  public private(set) var checks: [Check] = []

  /// A report with no checks yet.
  public init(subject: String) { self.subject = subject }

  /// The checks that failed.
  public var failures: [Check] { checks.filter { !$0.passed } }

  /// Whether at least one check ran and none failed.
  public var passed: Bool { !checks.isEmpty && failures.isEmpty }

  /// A summary line, then every failed check.
  public var description: String {
    let head = "\(subject): \(checks.count) checks, \(failures.count) failed"
    return ([head] + failures.map { "  \($0)" }).joined(separator: "\n")
  }

  /// Every check, one per line (for logs).
  public var details: String { ([subject] + checks.map { "  \($0)" }).joined(separator: "\n") }

  /// Runs `body` as the check `name`: it passes when `body` returns `nil`, fails with the
  /// returned text, and fails with the error when `body` throws.
  public mutating func check(_ name: String, _ body: () throws -> String?) {
    do {
      let problem = try body()
      checks.append(Check(name: name, passed: problem == nil, detail: problem ?? ""))
    } catch {
      checks.append(Check(name: name, passed: false, detail: "threw \(type(of: error)): \(error)"))
    }
  }

  /// Records a check that failed before it could run (its prerequisites failed).
  public mutating func fail(_ name: String, _ detail: String) {
    checks.append(Check(name: name, passed: false, detail: detail))
  }

  /// Appends every check of `other`, prefixed with its subject when it differs.
  public mutating func merge(_ other: ConformanceReport) {
    for c in other.checks {
      checks.append(Check(name: other.subject == subject ? c.name : "\(other.subject): \(c.name)", passed: c.passed, detail: c.detail))
    }
  }
}

/// `nil` when `condition` holds, else `message` (for ``ConformanceReport/check(_:_:)`` bodies).
@inlinable public func require(_ condition: Bool, _ message: @autoclosure () -> String) -> String? {
  condition ? nil : message()
}
