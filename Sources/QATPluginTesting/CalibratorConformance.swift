import QATKit
import QATRegistry

/// The conformance suite for a calibrator plugin: the contract of ``Calibrator`` and its use
/// by name in the `quantize` mode.
///
/// ```swift
/// let report = CalibratorConformance(plugin: MyCalibratorPlugin.self, name: "my_cal",
///                                    options: [nil, .object(["bins": .number(512)])]).run()
/// #expect(report.passed, "\(report)")
/// ```
///
/// Checks: the factory accepts `nil` and `{}` (defaults) and every given option set, refuses an
/// unknown option key naming it and every `invalidOptions`; `computeAmax` is `nil` before any
/// data and after ``Calibrator/reset()``; after group-major batches it returns one finite range
/// `≥ 0` per group, never above the largest `|x|` of the group (unless `mayExceedMax`), `0` for
/// an all-zero group; NaN and ±Inf are skipped and counted; the same data twice gives the same
/// ranges; and `"calibrator": name` works in a quantize config (per tensor and per channel).
/// Data-parallel `quantize` refuses calibrators that do not conform to
/// ``DistributedCalibrator``: unless `dataParallel` is `false`, the suite requires the
/// conformance and checks that two ranks (threads), each collecting half of the data, end with
/// the same ranges, equal to one process's that saw all of it (to float rounding).
public struct CalibratorConformance {
  /// The plugin under test.
  public var plugin: any QATPlugin.Type
  /// The calibrator name it registers.
  public var name: String
  /// Option sets that must be accepted (`nil` = none given).
  public var options: [JSONValue?]
  /// Option sets that must be refused.
  public var invalidOptions: [JSONValue]
  /// Whether a range may exceed the largest `|x|` seen (for calibrators that extrapolate).
  public var mayExceedMax: Bool
  /// Whether the calibrator must work data-parallel (conform to ``DistributedCalibrator``).
  public var dataParallel: Bool
  /// The registry the plugin is added to.
  public var baseRegistry: Registry

  /// Configures the suite.
  public init(
    plugin: any QATPlugin.Type, name: String, options: [JSONValue?] = [nil], invalidOptions: [JSONValue] = [],
    mayExceedMax: Bool = false, dataParallel: Bool = true, baseRegistry: Registry = .builtin
  ) {
    self.plugin = plugin
    self.name = name
    self.options = options
    self.invalidOptions = invalidOptions
    self.mayExceedMax = mayExceedMax
    self.dataParallel = dataParallel
    self.baseRegistry = baseRegistry
  }

  /// Runs every check.
  public func run() -> ConformanceReport {
    var report = ConformanceReport(subject: "calibrator '\(name)' (plugin \(plugin.name))")
    var registry = baseRegistry
    report.check("the plugin registers '\(name)' as a calibrator") {
      try registry.register(plugin)
      return require(registry.entry(.calibrator, name)?.plugin == plugin.name, "'\(name)' is not registered by \(plugin.name)")
    }
    guard report.passed, let factory = try? registry.quantizationEnvironment.calibratorFactory(name, path: "") else { return report }
    let target = Self.int8Target()
    report.check("accepts no options and {}") {
      _ = try factory(nil)
      _ = try factory(.object([:]))
      return nil
    }
    report.check("refuses an unknown option key, naming it") {
      do {
        _ = try factory(.object(["__not_an_option__": .number(1)]))
        return "an unknown option key was accepted: decode options with JSONValue.decodeOptions(_:as:context:)"
      } catch let e as ConfigError {
        return require("\(e)".contains("__not_an_option__"), "the error does not name the key: \(e)")
      }
    }
    for bad in invalidOptions {
      report.check("refuses options \(bad.text)") {
        require((try? factory(bad)) == nil, "accepted invalid options \(bad.text)")
      }
    }
    let groups = 3, size = 40
    var values = GradientCheck.randn([groups * size], seed: 5).scalars
    for i in 0..<size { values[2 * size + i] = 0 }  // group 2 is all zero
    let batch = CalibrationBatch(groupCount: groups, groupSize: size, values: values)
    for opts in options {
      let tag = opts?.text ?? "no options"
      report.check("the range contract (\(tag))") {
        let c = try factory(opts)
        if try c.computeAmax(for: target) != nil { return "computeAmax is not nil before any data" }
        c.collect(batch)
        c.collect(batch)
        guard let r = try c.computeAmax(for: target) else { return "computeAmax is nil after data" }
        if r.count != groups { return "\(r.count) ranges for \(groups) groups" }
        if !r.allSatisfy({ $0.isFinite && $0 >= 0 }) { return "ranges must be finite and ≥ 0: \(r)" }
        if r[2] != 0 { return "an all-zero group must get range 0, got \(r[2])" }
        for g in 0..<2 where !mayExceedMax {
          let m = values[(g * size)..<((g + 1) * size)].map(Swift.abs).max()!
          if r[g] > m * (1 + 1e-6) { return "range \(r[g]) of group \(g) exceeds its largest |x| \(m)" }
        }
        if r[0] == 0 || r[1] == 0 { return "non-zero groups got range 0: \(r)" }
        c.reset()
        if try c.computeAmax(for: target) != nil { return "computeAmax is not nil after reset()" }
        c.collect(batch)
        c.collect(batch)
        let again = try c.computeAmax(for: target)
        return require(again == r, "the same data after reset() gave \(again ?? []) instead of \(r)")
      }
      report.check("NaN and ±Inf are skipped and counted (\(tag))") {
        let dirty = try factory(opts)
        var v = values
        v[3] = .nan
        v[size + 4] = .infinity
        v[5] = -.infinity
        dirty.collect(CalibrationBatch(groupCount: groups, groupSize: size, values: v))
        guard let r = try dirty.computeAmax(for: target) else { return "no ranges" }
        if !r.allSatisfy(\.isFinite) { return "a non-finite value reached a range: \(r)" }
        return require(dirty.nonFiniteCount == 3, "nonFiniteCount is \(dirty.nonFiniteCount), expected 3")
      }
    }
    if dataParallel {
      report.check("data-parallel: two ranks with half the data each agree with one process") {
        guard try factory(options.first ?? nil) is any DistributedCalibrator else {
          return "it does not conform to DistributedCalibrator, so data-parallel quantize refuses it: implement "
            + "beginDistributed(_:) and reduce(over:) (combine the ranks' statistics), or pass dataParallel: false"
        }
        func batches(_ v: [Float]) -> [CalibrationBatch] {
          // Each rank sees every group: split each group's values in two.
          let half = size / 2
          let first = (0..<groups).flatMap { g in v[(g * size)..<(g * size + half)] }
          let second = (0..<groups).flatMap { g in v[(g * size + half)..<((g + 1) * size)] }
          return [CalibrationBatch(groupCount: groups, groupSize: half, values: first),
                  CalibrationBatch(groupCount: groups, groupSize: size - half, values: second)]
        }
        let perRank = batches(values)
        let one = try factory(options.first ?? nil)
        for b in perRank { one.collect(b) }
        guard let single = try one.computeAmax(for: target) else { return "no ranges from one process" }
        let opts = options.first ?? nil
        let results = LocalRanks.run(2) { communicator -> [Float] in
          guard let c = try factory(opts) as? any DistributedCalibrator else { return [] }
          c.reset()
          c.beginDistributed(communicator)
          c.collect(perRank[communicator.rank])
          try c.reduce(over: communicator)
          return try c.computeAmax(for: Self.int8Target()) ?? []
        }
        let ranges = try results.map { try $0.get() }
        if ranges[0] != ranges[1] { return "the ranks computed different ranges: \(ranges[0]) and \(ranges[1])" }
        return require(allClose(ranges[0], single, atol: 1e-6, rtol: 1e-5), "two ranks give \(ranges[0]), one process \(single)")
      }
    }
    for (title, attrs) in [("per tensor", QuantizerAttributes.int(8, calibrator: name)), ("per channel", QuantizerAttributes.int(4, axis: 0, calibrator: name))] {
      report.check("works by name in a quantize config (\(title))") {
        let model = MLP([8, 12, 6], seed: 1)
        let config = QuantizeConfig([.init("*weight_quantizer", cfg: attrs), .init("*input_quantizer", cfg: .int(8, calibrator: name))])
        let data = GradientCheck.randn([32, 8], seed: 3)
        try convert(model, modes: [.quantize(config)], registry: registry, forwardLoop: { m in _ = m(data) })
        let y = Tensor.withoutGrad { model(data) }
        return require(y.scalars.allSatisfy(\.isFinite), "non-finite outputs after calibration")
      }
    }
    return report
  }

  /// The target of a per-tensor int8 quantizer.
  static func int8Target() -> CalibrationTarget {
    CalibrationTarget(format: .int8) { values, amax in
      let s = Swift.max(amax, 1e-12) / 127
      return values.map { Swift.min(Swift.max(($0 / s).rounded(.toNearestOrEven), -128), 127) * s }
    }
  }
}
