extension ScaffoldTemplates {
  static let criterion = #"""
    import QATKit

    /// Huber loss between the student's and the teacher's outputs: `½d²` where `|d| ≤ δ`,
    /// `δ(|d| − ½δ)` beyond, averaged over elements (per row, then over the rows the mask keeps).
    /// Replace the formula with yours; build it from tensor operations (autodiff gives the
    /// gradient) or write a kernel with `recording(_:inputs:backward:)`.
    ///
    /// JSON: `{"kind": "__SNAKE__", "delta": 1}`.
    public struct __NAME__Criterion: JSONCriterion {
      /// The registry name.
      public static let kind = "__SNAKE__"

      /// The JSON options (besides `kind`): absent keys take these defaults.
      public struct Options: PluginOptions, Equatable {
        /// The threshold δ between the quadratic and the linear part.
        public var delta: Float = 1
        /// The defaults.
        public init() {}
      }

      /// The options in use.
      public let options: Options

      /// The loss label.
      public var name: String { Self.kind }

      /// Creates the criterion.
      ///
      /// - Throws: ``ConfigError`` when `delta` is not a finite number > 0.
      public init(delta: Float = 1) throws {
        var o = Options()
        o.delta = try StrictJSON.positive(delta, "\(Self.kind) criterion", path: "delta")
        options = o
      }

      /// Creates the criterion from its JSON spec, strictly.
      public init(json: JSONValue) throws {
        let o = try StrictJSON.decode(Options.self, from: json, kind: Self.kind)
        try self.init(delta: StrictJSON.positive(o.delta, "\(Self.kind) spec", path: "delta"))
      }

      /// The mean Huber loss; with a mask, the mean over the rows it keeps (weighted).
      public func loss(student: Tensor, teacher: Tensor, extras: CriterionExtras) -> Tensor {
        let delta = options.delta
        let d = (student - teacher).abs()
        let inner = Tensor.minimum(d, Tensor(scalar: delta))
        let perElement = inner.squared() * 0.5 + (d - inner) * delta
        guard let mask = extras.mask else { return perElement.mean() }
        let width = student.shape.last ?? 1
        // The element count is unchanged, so the reshape cannot fail.
        let perRow = try! perElement.reshaped([student.count / Swift.max(width, 1), width]).mean(axis: -1)
        return (perRow * Tensor(mask)).sum() / Swift.max(mask.reduce(0, +), 1e-12)
      }

      /// `{"kind": "__SNAKE__", "delta": δ}`: everything needed to rebuild it.
      public var spec: JSONValue { .object(["kind": .string(Self.kind), "delta": .number(Double(options.delta))]) }
    }

    """#

  static let criterionTests = #"""
    import QATKit
    import QATPluginTesting
    import QATRegistry
    import Testing
    import __NAME__

    @Suite struct __NAME__Tests {
      /// QATKit's conformance suite: creation by kind, strict keys, spec round trip, gradients,
      /// masks, and use by name in kd_loss.
      @Test func conformance() {
        let report = CriterionConformance(
          plugin: __NAME__Plugin.self, kind: "__SNAKE__",
          specs: [.object(["kind": .string("__SNAKE__")]), .object(["kind": .string("__SNAKE__"), "delta": .number(0.5)])],
          invalidSpecs: [.object(["kind": .string("__SNAKE__"), "delta": .number(-1)])]
        ).run()
        #expect(report.passed, "\(report)")
      }

      /// d = 0.5 is quadratic (0.125), d = 3 linear (3 − 0.5 = 2.5) with δ = 1.
      @Test func huberValues() throws {
        let c = try __NAME__Criterion(delta: 1)
        let l = c.loss(student: Tensor([0.5, 3]), teacher: Tensor([0, 0]), extras: CriterionExtras())
        #expect(abs(l.item - (0.125 + 2.5) / 2) < 1e-6)
      }
    }

    """#
}
