extension ScaffoldTemplates {
  static let balancer = #"""
    import QATKit

    /// Fixed weights: `Σ wᵢ·kdᵢ + student_weight · student loss`. Replace with your rule; a
    /// balancer that learns its weights returns them from `learnableParameters()` (the
    /// distillation model hands them to the optimizer) and uses them in `balance`.
    ///
    /// JSON: `{"kind": "__SNAKE__", "weights": [0.5, 0.5], "student_weight": 1}`.
    public struct __NAME__Balancer: JSONLossBalancer {
      /// The registry name.
      public static let kind = "__SNAKE__"

      /// The JSON options (besides `kind`): absent keys take these defaults.
      public struct Options: PluginOptions, Equatable {
        /// One weight per KD loss, in criterion order.
        public var weights: [Float] = [1]
        /// The weight of the student's own loss.
        public var studentWeight: Float = 1
        /// The defaults.
        public init() {}

        enum CodingKeys: String, CodingKey {
          case weights, studentWeight = "student_weight"
        }
      }

      /// The options in use.
      public let options: Options

      /// The loss label.
      public var name: String { Self.kind }

      /// Creates the balancer from its JSON spec, strictly.
      ///
      /// - Throws: ``ConfigError`` for a negative or non-finite weight, or none.
      public init(json: JSONValue) throws {
        let context = "\(Self.kind) spec"
        let o = try StrictJSON.decode(Options.self, from: json, kind: Self.kind)
        guard !o.weights.isEmpty else { throw ConfigError.invalidValue(context, path: "weights", "give one weight per KD loss") }
        for (i, w) in o.weights.enumerated() { _ = try StrictJSON.nonNegative(w, context, path: "weights[\(i)]") }
        _ = try StrictJSON.nonNegative(o.studentWeight, context, path: "student_weight")
        options = o
      }

      /// One weight per KD loss.
      public func validate(kdLossCount: Int) throws {
        guard kdLossCount == options.weights.count else {
          throw ConfigError.invalidValue(
            "\(Self.kind) balancer", path: "weights", "has \(options.weights.count) weight(s) for \(kdLossCount) KD loss(es)")
        }
      }

      /// `Σ wᵢ·kdᵢ + student_weight · student loss`.
      public func balance(_ losses: [(String, Tensor)], studentLoss: Tensor?) throws -> Tensor {
        guard losses.count == options.weights.count else {
          throw KDError.balancer("\(Self.kind): \(options.weights.count) weight(s) for \(losses.count) loss(es)")
        }
        var total = losses[0].1 * options.weights[0]
        for (w, (_, l)) in zip(options.weights, losses).dropFirst() { total = total + l * w }
        if let studentLoss { total = total + studentLoss * options.studentWeight }
        return total
      }

      /// Everything needed to rebuild it.
      public var spec: JSONValue {
        .object([
          "kind": .string(Self.kind), "weights": .array(options.weights.map { .number(Double($0)) }),
          "student_weight": .number(Double(options.studentWeight)),
        ])
      }
    }

    """#

  static let balancerTests = #"""
    import QATKit
    import QATPluginTesting
    import QATRegistry
    import Testing
    import __NAME__

    @Suite struct __NAME__Tests {
      /// QATKit's conformance suite: creation by kind, strict keys, spec round trip, gradients,
      /// and use by name in kd_loss.
      @Test func conformance() {
        let report = BalancerConformance(
          plugin: __NAME__Plugin.self, kind: "__SNAKE__",
          specs: [.object(["kind": .string("__SNAKE__"), "weights": .array([.number(0.5), .number(0.25)])])],
          invalidSpecs: [.object(["kind": .string("__SNAKE__"), "weights": .array([.number(-1), .number(1)])])],
          kdLossCount: 2
        ).run()
        #expect(report.passed, "\(report)")
      }

      @Test func weighsTheLosses() throws {
        let b = try __NAME__Balancer(json: JSONValue(parsing: #"{"kind": "__SNAKE__", "weights": [2], "student_weight": 0.5}"#))
        let total = try b.balance([("kd", Tensor(scalar: 3))], studentLoss: Tensor(scalar: 4))
        #expect(total.item == 8)
      }
    }

    """#
}
