import Foundation
import QATPluginTesting
import Testing
@testable import QATKit

/// Issue 10, defects 3 and 6: histogram calibrators on tiny and subnormal values, and the limits
/// on options whose size comes from a config (calibrators, a distillation adapter).
@Suite struct CalibratorLimitsTests {
  static let histogramCalibrators = ["percentile", "mse", "entropy"]
  /// Largest |x| of the group: normal, near the old `Float` width limit (6e-36 / 2048 bins),
  /// subnormal (1e-40 used to trap on `Int(inf)`, 1e-44 and the smallest subnormal used to hang).
  static let magnitudes: [Float] = [1e-30, 5e-36, 1e-38, Float(1e-40 as Double), Float(1e-44 as Double), .leastNonzeroMagnitude]

  private var int8: CalibrationTarget { Self.int8Target() }

  static func int8Target() -> CalibrationTarget {
    CalibrationTarget(format: .int8) { v, a in
      QuantCodec.fakeQuantize(v, format: .int8, narrow: false, layout: GroupLayout(.perTensor, shape: [v.count]), amax: [a], blockSize: nil)
    }
  }

  @Test(arguments: histogramCalibrators, magnitudes)
  func tinyRangesGiveADefinedRange(_ name: String, _ m: Float) throws {
    let factory = try #require(QuantizationEnvironment.builtin.calibrators[name])
    let c = try factory(nil)
    // One group of tiny values (and zeros), one of ordinary values.
    let tiny: [Float] = [m, -m, m / 2, 0, -m / 4, m, 0, -m]
    let normal: [Float] = [1, -0.5, 0.25, 2, -2, 0.125, 1.5, -1]
    c.collect(CalibrationBatch(groupCount: 2, groupSize: 8, values: tiny + normal))
    c.collect(CalibrationBatch(groupCount: 2, groupSize: 8, values: tiny.map { $0 / 2 } + normal))
    let a = try #require(try c.computeAmax(for: int8))
    #expect(a.count == 2)
    #expect(a[0].isFinite && a[0] >= 0 && a[0] <= m, "\(name) on |x| <= \(m): \(a[0])")
    #expect(a[1] > 0 && a[1] <= 2)
  }

  /// A group that first sees subnormals and later ordinary values widens its bins from the tiny
  /// width (about 130 doublings) without hanging.
  @Test(arguments: histogramCalibrators)
  func tinyThenLargeWidensTheHistogram(_ name: String) throws {
    let factory = try #require(QuantizationEnvironment.builtin.calibrators[name])
    let c = try factory(nil)
    c.collect(CalibrationBatch(groupCount: 1, groupSize: 3, values: [Float(1e-44 as Double), -.leastNonzeroMagnitude, 0]))
    c.collect(CalibrationBatch(groupCount: 1, groupSize: 3, values: [3e38, -1, 0.5]))
    let a = try #require(try c.computeAmax(for: int8)?.first)
    #expect(a.isFinite && a > 0 && a <= 3e38)
  }

  /// Weights that are all subnormal calibrate and quantize like max calibration does.
  @Test(arguments: histogramCalibrators)
  func subnormalWeightsQuantize(_ name: String) throws {
    let scale = Float(1e-39 as Double)  // subnormal
    let layer = Linear(4, 3, seed: 1)
    try layer.weight.assign(values: layer.weight.scalars.map { $0 * scale })
    var w = QuantizerAttributes.int(8, axis: 0, calibrator: name)
    w.calibratorOptions = name == "entropy" ? .object(["bins": .number(256)]) : nil
    let config = QuantizeConfig([.init("*weight_quantizer", cfg: w)])
    _ = try QuantizeMode.convert(layer, config: config, context: ModeContext())
    let amax = try #require(layer.quantizer(slot: "weight_quantizer")?.stateTensors().first?.1.scalars)
    #expect(amax.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= scale })
    let y = layer(Tensor.ones([2, 4]))
    let finite = y.scalars.allSatisfy(\.isFinite)
    #expect(finite)
  }

  @Test(arguments: histogramCalibrators)
  func hugeBinCountsAreConfigErrors(_ name: String) throws {
    let factory = try #require(QuantizationEnvironment.builtin.calibrators[name])
    for bins in [2e9, 1e7, Double(HistogramCalibratorBase.maxBins + 1)] {
      #expect {
        try factory(.object(["bins": .number(bins)]))
      } throws: { e in
        guard case ConfigError.invalidValue(let context, let path, let message) = e else { return false }
        return context == "\(name) calibrator" && path == "bins" && message.contains("at most")
      }
    }
    _ = try factory(.object(["bins": .number(name == "entropy" ? 4096 : Double(HistogramCalibratorBase.maxBins))]))
  }

  @Test func mseStepsAndStopAreBounded() throws {
    let factory = try #require(QuantizationEnvironment.builtin.calibrators["mse"])
    #expect(throws: ConfigError.self) { try factory(.object(["steps": .number(1e9)])) }
    #expect(throws: ConfigError.self) { try factory(.object(["stop": .number(1e300)])) }
    _ = try factory(.object(["steps": .number(Double(MSECalibrator.maxSteps))]))
  }

  /// A number outside `Int`'s range fails naming its key, not `<root>`.
  @Test func outOfRangeIntegersNameTheirKey() throws {
    let factory = try #require(QuantizationEnvironment.builtin.calibrators["percentile"])
    #expect {
      try factory(.object(["bins": .number(1e300)]))
    } throws: { e in "\(e)".contains("'bins'") && !"\(e)".contains("<root>") }
    let config = JSONValue.object([
      "quantCfg": .array([.object(["quantizerName": .string("*"), "cfg": .object(["blockSize": .number(1e300)])])])
    ])
    #expect {
      try config.decode(QuantizeConfig.self, context: "quantize config")
    } throws: { e in "\(e)".contains("quantCfg[0].cfg.blockSize") }
  }

  /// A distillation adapter's size comes from a config: 10^6 × 10^6 weights used to be allocated.
  @Test func kdAdapterSizeIsBounded() throws {
    let json = JSONValue.object(["adapter": .object(["student_features": .number(1e6), "teacher_features": .number(1e6)])])
    #expect {
      try MSECriterion(json: json)
    } throws: { e in "\(e)".contains("adapter") && "\(e)".contains("weights") }
    #expect(throws: ConfigError.self) { try MSECriterion(adapterFrom: Int.max, to: 2) }
    _ = try MSECriterion(adapterFrom: 64, to: 32)
  }

  /// The data-parallel histogram path (ranks agree on the first width, grow to the global
  /// maximum, sum counts) keeps the tiny-value fix: two ranks with subnormal shards give a
  /// finite range equal to one process's; the bins bound holds for every calibrator built there.
  @Test(arguments: histogramCalibrators)
  func tinyRangesAcrossRanks(_ name: String) throws {
    let factory = try #require(QuantizationEnvironment.builtin.calibrators[name])
    let m = Float(1e-44 as Double)
    let shards: [[Float]] = [[m, -m / 2, 0, m / 4], [0, -.leastNonzeroMagnitude, m, 0]]
    let one = try factory(nil)
    one.collect(CalibrationBatch(groupCount: 1, groupSize: 8, values: shards[0] + shards[1]))
    let expected = try #require(try one.computeAmax(for: int8))
    let results = LocalRanks.run(2) { comm -> [Float] in
      let c = try #require(try factory(nil) as? any DistributedCalibrator)
      c.reset()
      c.beginDistributed(comm)
      c.collect(CalibrationBatch(groupCount: 1, groupSize: 4, values: shards[comm.rank]))
      try c.reduce(over: comm)
      return try #require(try c.computeAmax(for: Self.int8Target()))
    }
    for r in results {
      let a = try r.get()
      #expect(a.count == 1 && a[0].isFinite && a[0] >= 0 && a[0] <= m, "\(name): \(a)")
      #expect(a.map(\.bitPattern) == expected.map(\.bitPattern), "\(name): \(a) vs \(expected)")
    }
    #expect(throws: ConfigError.self) { try factory(.object(["bins": .number(2e9)])) }
  }
}
