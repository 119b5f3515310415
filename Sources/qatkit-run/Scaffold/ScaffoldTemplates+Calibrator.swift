extension ScaffoldTemplates {
  static let calibrator = #"""
    import QATKit

    /// Range = `factor × mean |x|` per group, never above the largest `|x|` seen: a cheap
    /// outlier-robust range. Replace the statistics with yours; the conformance suite checks the
    /// ``Calibrator`` contract (NaN/Inf skipped and counted, all-zero group → 0, reset).
    public final class __NAME__Calibrator: Calibrator {
      /// `calibratorOptions`: absent keys take these defaults, unknown keys are errors.
      public struct Options: PluginOptions, Equatable {
        /// The multiple of the mean absolute value.
        public var factor: Float = 3
        /// The defaults.
        public init() {}
      }

      /// The options in use.
      public let options: Options
      private var sums: [Double] = []
      private var counts: [Int] = []
      private var maxima: [Float] = []
      /// NaN / ±Inf values skipped.
      public private(set) var nonFiniteCount = 0

      /// Creates the calibrator.
      ///
      /// - Throws: ``ConfigError`` when `factor` is not a finite number > 0.
      public init(options: Options = Options()) throws {
        _ = try StrictJSON.positive(options.factor, "__SNAKE__ calibrator options", path: "factor")
        self.options = options
      }

      /// Accumulates `Σ|x|`, the count and the largest `|x|` per group.
      public func collect(_ batch: CalibrationBatch) {
        if sums.isEmpty {
          sums = [Double](repeating: 0, count: batch.groupCount)
          counts = [Int](repeating: 0, count: batch.groupCount)
          maxima = [Float](repeating: 0, count: batch.groupCount)
        }
        batch.values.withUnsafeBufferPointer { v in
          for g in 0..<batch.groupCount {
            for j in 0..<batch.groupSize {
              let x = v[g * batch.groupSize + j]
              guard x.isFinite else {
                nonFiniteCount += 1
                continue
              }
              let a = Swift.abs(x)
              sums[g] += Double(a)
              counts[g] += 1
              maxima[g] = Swift.max(maxima[g], a)
            }
          }
        }
      }

      /// `min(factor · mean|x|, max|x|)` per group; `nil` before any data.
      public func computeAmax(for target: CalibrationTarget) throws -> [Float]? {
        guard !sums.isEmpty else { return nil }
        return sums.indices.map { g in
          counts[g] == 0 ? 0 : Swift.min(Float(sums[g] / Double(counts[g])) * options.factor, maxima[g])
        }
      }

      /// Forgets everything collected.
      public func reset() {
        sums = []
        counts = []
        maxima = []
        nonFiniteCount = 0
      }
    }

    /// Data-parallel calibration (`quantize` over several processes refuses calibrators without
    /// it): every rank collects its shard, then `reduce(over:)` combines the statistics so every
    /// rank computes the same ranges.
    extension __NAME__Calibrator: DistributedCalibrator {
      /// Nothing to do before collecting: the statistics combine at the end.
      public func beginDistributed(_ communicator: any Communicator) {}

      /// Sums `Σ|x|` and the counts, takes the largest `|x|`, over every rank.
      ///
      /// - Throws: ``CommunicatorError`` when a collective fails or the ranks saw different groups.
      public func reduce(over communicator: any Communicator) throws {
        var groups = [Double(sums.count), -Double(sums.count)]
        try groups.withUnsafeMutableBufferPointer { try communicator.allReduce($0, .max) }
        guard groups[0] == -groups[1] else {
          throw CommunicatorError.unsupported("__SNAKE__: the ranks saw different numbers of groups; run the same model on every rank")
        }
        var totals = sums + counts.map(Double.init) + [Double(nonFiniteCount)]
        try totals.withUnsafeMutableBufferPointer { try communicator.allReduce($0, .sum) }
        var peaks = maxima
        try peaks.withUnsafeMutableBufferPointer { try communicator.allReduce($0, .max) }
        let g = sums.count
        sums = Array(totals[0..<g])
        counts = totals[g..<(2 * g)].map { Int($0) }
        nonFiniteCount = Int(totals[2 * g])
        maxima = peaks
      }
    }

    """#

  static let calibratorTests = #"""
    import QATKit
    import QATPluginTesting
    import QATRegistry
    import Testing
    import __NAME__

    @Suite struct __NAME__Tests {
      /// QATKit's conformance suite: options, the range contract, NaN handling, reset, and use by
      /// name in quantize configs.
      @Test func conformance() {
        let report = CalibratorConformance(
          plugin: __NAME__Plugin.self, name: "__SNAKE__",
          options: [nil, .object(["factor": .number(2)])],
          invalidOptions: [.object(["factor": .number(0)]), .object(["factor": .string("big")])]
        ).run()
        #expect(report.passed, "\(report)")
      }

      /// mean |x| = 1.25 and max 2 for [1, -1, 1, 2]: factor 1 gives 1.25, factor 3 is capped at 2.
      @Test func rangeIsAMultipleOfTheMeanCappedAtTheMax() throws {
        let target = CalibrationTarget(format: .int8) { values, _ in values }
        for (factor, expected) in [(Float(1), Float(1.25)), (3, 2)] {
          var options = __NAME__Calibrator.Options()
          options.factor = factor
          let c = try __NAME__Calibrator(options: options)
          c.collect(CalibrationBatch(groupCount: 1, groupSize: 4, values: [1, -1, 1, 2]))
          #expect(try c.computeAmax(for: target) == [expected])
        }
      }
    }

    """#
}
