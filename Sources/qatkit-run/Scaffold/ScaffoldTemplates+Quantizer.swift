extension ScaffoldTemplates {
  static let quantizer = #"""
    import QATKit

    /// A uniform integer fake quantizer with a learned range per group (tensor, channel or
    /// block): `y = clamp(round(x / s), lo, hi) · s` with `s = amax / hi`. The range starts from
    /// the configured calibrator (the `quantize` mode calls ``beginCalibration(_:)``, runs the data
    /// — a weight quantizer sees its weight once — then ``endCalibration()``) and is trained with a
    /// clipped straight-through estimator: `∂y/∂x = 1` inside the range and 0 outside;
    /// `∂y/∂amax = (q − x/s)/hi` inside and `q/hi` outside (LSQ without its gradient scale).
    ///
    /// Replace the kernel with your algorithm; the conformance suite in the tests checks the
    /// contract (and your straight-through surrogate, which you update with it).
    public final class __NAME__Quantizer: Quantizer {
      /// Options under `algorithmOptions`: absent keys take these defaults, unknown keys are
      /// errors that name `<quantizer path>.algorithmOptions.<key>`.
      public struct Options: PluginOptions, Equatable {
        /// The smallest range the calibration may set.
        public var minimumRange: Float = 1e-8
        /// The defaults.
        public init() {}
      }

      /// When `false` the quantizer is the identity.
      public var isEnabled: Bool
      /// The attributes it was built from (restore rebuilds it from them).
      public let attributes: QuantizerAttributes
      /// The decoded options.
      public let options: Options
      /// The learned range, one value per group, once calibrated or restored.
      public private(set) var amax: Tensor?
      private var calibrator: (any Calibrator)?
      private var layout: GroupLayout?
      private let lower: Float, upper: Float

      /// Builds the quantizer from its attributes.
      ///
      /// - Throws: `QuantizerError.unsupportedFormat` for a format it cannot quantize to;
      ///   `ConfigError` for attributes the core rejects (bit widths 2–8, ...) or a bad option.
      public init(attributes: QuantizerAttributes) throws {
        guard case .int(let bits, let signed) = attributes.format else {
          throw QuantizerError.unsupportedFormat(
            algorithm: "__SNAKE__", format: attributes.format, reason: "__SNAKE__ quantizes to integers; use an int format")
        }
        try attributes.validate(path: "")   // the checks the core formats share
        options = try attributes.decodeAlgorithmOptions(Options.self)
        self.attributes = attributes
        isEnabled = attributes.enable
        upper = Float((1 << (bits - (signed ? 1 : 0))) - 1)
        lower = signed ? (attributes.narrowRange ? -upper : -upper - 1) : 0
      }

      /// `_amax`, saved as `<path>._amax`.
      public func stateTensors() -> [(String, Tensor)] { amax.map { [("_amax", $0)] } ?? [] }

      /// The range is trained.
      public func learnableParameters() -> [(String, Tensor)] { stateTensors() }

      /// It always starts from a calibrated range.
      public var needsCalibration: Bool { isEnabled }

      /// Starts observing inputs.
      public func beginCalibration(_ calibrator: any Calibrator) { self.calibrator = calibrator }

      /// Sets the range from what the calibrator collected.
      public func endCalibration() throws {
        guard let calibrator, let layout else { throw QuantizerError.notCalibrated(path: "") }
        self.calibrator = nil
        let target = CalibrationTarget(format: attributes.format) { [lower, upper] values, a in
          let s = Swift.max(a, 1e-12) / upper
          return values.map { Swift.min(Swift.max(($0 / s).rounded(.toNearestOrEven), lower), upper) * s }
        }
        guard let ranges = try calibrator.computeAmax(for: target), ranges.count == layout.groupCount else {
          throw QuantizerError.calibrationFailed(path: "", "the calibrator returned no range per group")
        }
        amax = Tensor(ranges.map { Swift.max($0, options.minimumRange) }, requiresGrad: true)
      }

      /// Creates `_amax` with the saved shape; the values arrive with the state dict.
      public func allocateState(shapes: [String: [Int]]) throws {
        guard shapes.keys.sorted() == ["_amax"], let s = shapes["_amax"], s.count == 1 else {
          throw QuantizerError.stateMismatch("__SNAKE__ expects state {_amax: [groups]}, got \(shapes)")
        }
        amax = Tensor.full(s, 1, requiresGrad: true)
      }

      /// Fake-quantizes `x` (or only observes it while calibrating).
      public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(
          GroupLayout.fits(attributes.granularity, shape: x.shape),
          "__SNAKE__: \(attributes.granularity) does not fit the input shape \(x.shape)")
        let layout = GroupLayout(attributes.granularity, shape: x.shape)
        self.layout = layout
        if let calibrator {
          calibrator.collect(layout.batch(x.scalars))
          return x
        }
        guard isEnabled, let amax else { return x }
        precondition(amax.count == layout.groupCount, "__SNAKE__: \(amax.count) ranges for \(layout.groupCount) groups")
        return fakeQuantize(x, amax: amax, layout: layout)
      }

      /// The kernel: one pass over contiguous buffers (groups from the division-free
      /// `layout.groups`), and the recorded backward.
      func fakeQuantize(_ x: Tensor, amax: Tensor, layout: GroupLayout) -> Tensor {
        let (lower, upper) = (self.lower, self.upper)
        let steps = amax.scalars.map { Swift.max($0, 1e-12) / upper }
        let n = x.count
        var inside = [Bool](repeating: false, count: n)
        var slope = [Float](repeating: 0, count: n)  // ∂y/∂amax per element
        // The shape is x's own, so creating the output cannot fail.
        let y = x.withUnsafeBufferPointer { input in
          try! Tensor(shape: x.shape) { out in
            var groups = layout.groups.makeIterator()
            for i in 0..<n {
              let g = groups.next()!
              let v = input[i] / steps[g]
              let q = Swift.min(Swift.max(v.rounded(.toNearestOrEven), lower), upper)
              out[i] = q * steps[g]
              inside[i] = v >= lower && v <= upper
              slope[i] = (inside[i] ? q - v : q) / upper
            }
          }
        }
        let (mask, dAmax, shape, groupCount) = (inside, slope, x.shape, layout.groupCount)
        return y.recording("__SNAKE__", inputs: [x, amax]) { gradient in
          var gAmax = [Float](repeating: 0, count: groupCount)
          let gx = gradient.withUnsafeBufferPointer { g in
            try! Tensor(shape: shape) { out in
              var groups = layout.groups.makeIterator()
              for i in 0..<n {
                let k = groups.next()!
                out[i] = mask[i] ? g[i] : 0
                gAmax[k] += g[i] * dAmax[i]
              }
            }
          }
          return [gx, Tensor(gAmax)]
        }
      }
    }

    """#

  static let quantizerTests = #"""
    import QATKit
    import QATPluginTesting
    import QATRegistry
    import Testing
    import __NAME__

    @Suite struct __NAME__Tests {
      /// The forward pass in `Double` with the straight-through parts frozen, so finite
      /// differences give the gradients the quantizer claims: `round` passes the gradient
      /// straight through, `clamp` zeroes it outside the range.
      static let surrogate = STESurrogate { input, frozen in
        guard case .int(let bits, let signed) = input.attributes.format else { return [] }
        let hi = Double((1 << (bits - (signed ? 1 : 0))) - 1)
        let lo = signed ? (input.attributes.narrowRange ? -hi : -hi - 1) : 0
        let steps = input.state["_amax"]!.map { $0 / hi }
        var groups = input.layout.groups.makeIterator()
        return input.x.map { x in
          let s = steps[groups.next()!]
          return frozen.round(frozen.clamp(x / s, lo, hi)) * s
        }
      }

      /// QATKit's conformance suite: construction, options, calibration, state, training,
      /// save → restore, restore without the plugin, gradients against the surrogate.
      @Test func conformance() {
        let report = QuantizerConformance(
          plugin: __NAME__Plugin.self, algorithm: "__SNAKE__",
          cases: [.weight(.int(4, axis: 0)), .weight(.int(3, blockSize: 4)), .activation(.int(8))],
          unsupported: [QuantizerAttributes(format: .e4m3), QuantizerAttributes(format: .nvfp4)],
          surrogate: Self.surrogate
        ).run()
        #expect(report.passed, "\(report)")
      }

      /// A format the algorithm does not implement is a typed error naming it.
      @Test func refusesFloatFormats() {
        #expect {
          try __NAME__Quantizer(attributes: QuantizerAttributes(format: .e4m3, algorithm: "__SNAKE__"))
        } throws: { e in
          guard case QuantizerError.unsupportedFormat(let algorithm, .e4m3, _) = e else { return false }
          return algorithm == "__SNAKE__"
        }
      }

      /// Values on the grid: int4 with range 7 has step 1 and codes -8...7.
      @Test func quantizesToTheGrid() throws {
        let q = try __NAME__Quantizer(attributes: QuantizerAttributes(format: .int4, algorithm: "__SNAKE__"))
        try q.allocateState(shapes: ["_amax": [1]])
        try q.amax!.assign(values: [7])
        let y = q(try Tensor([0.4, 1.6, -9, 3.5, 2.5], shape: [5]))
        #expect(y.scalars == [0, 2, -8, 4, 2])  // ties round to even
      }
    }

    """#
}
