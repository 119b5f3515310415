import Foundation
import Testing
@testable import QATKit

@Suite("Quantization: calibrators")
struct QuantizationCalibratorTests {
  private let int4 = CalibrationTarget(format: .int4) { v, a in
    QuantCodec.fakeQuantize(v, format: .int4, narrow: false, layout: GroupLayout(.perTensor, shape: [v.count]), amax: [a], blockSize: nil)
  }

  private func gaussianWithOutliers(_ count: Int = 20) -> [Float] {
    var rng = RandomGenerator(seed: 3)
    var v = Tensor.randn([20_000], using: &rng).scalars
    for i in 0..<count { v[i * 997] = 40 * (i % 2 == 0 ? 1 : -1) }
    return v
  }

  @Test func maxOnUniform() throws {
    var rng = RandomGenerator(seed: 1)
    let v = Tensor.uniform([1000], low: -2, high: 2, using: &rng).scalars
    let c = MaxCalibrator()
    c.collect(CalibrationBatch(groupCount: 1, groupSize: 500, values: Array(v[..<500])))
    c.collect(CalibrationBatch(groupCount: 1, groupSize: 500, values: Array(v[500...])))
    #expect(try c.computeAmax(for: int4) == [v.map(abs).max()!])
  }

  @Test func percentileClipsOutliers() throws {
    let v = gaussianWithOutliers()
    // 0.1 % outliers at ±40: the 99.5th percentile lies in the Gaussian body (~2.8).
    let c = try PercentileCalibrator(options: { var o = PercentileCalibrator.Options(); o.percentile = 99.5; return o }())
    c.collect(CalibrationBatch(groupCount: 1, groupSize: v.count, values: v))
    let a = try #require(try c.computeAmax(for: int4)?.first)
    #expect(a > 2.4 && a < 3.2)
    let uniform = (0..<10_000).map { Float($0) / 10_000 }
    let u = try PercentileCalibrator(options: { var o = PercentileCalibrator.Options(); o.percentile = 90; return o }())
    u.collect(CalibrationBatch(groupCount: 1, groupSize: uniform.count, values: uniform))
    #expect(abs(try u.computeAmax(for: int4)!.first! - 0.9) < 0.002)
  }

  @Test func mseClipsHeavyTailsBelowMax() throws {
    // Two outliers at ±40 in 20 000 N(0,1) values: clipping them costs less than the
    // resolution max calibration wastes on the body.
    let v = gaussianWithOutliers(2)
    let c = try MSECalibrator(options: .init())
    c.collect(CalibrationBatch(groupCount: 1, groupSize: v.count, values: v))
    let a = try #require(try c.computeAmax(for: int4)?.first)
    #expect(a < 40 * 0.5)
    // The choice really has lower error than max on the data.
    func err(_ amax: Float) -> Float {
      let q = int4.fakeQuantize(v, amax)
      return zip(q, v).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
    }
    #expect(err(a) < err(40))
  }

  @Test func entropyIsSane() throws {
    let v = gaussianWithOutliers()
    let c = try EntropyCalibrator(options: .init())
    c.collect(CalibrationBatch(groupCount: 1, groupSize: v.count, values: v))
    let a = try #require(try c.computeAmax(for: CalibrationTarget(format: .int8, fakeQuantize: int4.fakeQuantize))?.first)
    #expect(a > 1 && a < 40)
  }

  @Test func nonFiniteValuesAreSkippedAndCounted() throws {
    let v: [Float] = [1, .nan, -3, .infinity, 2, -.infinity]
    for c in [MaxCalibrator() as any Calibrator, try PercentileCalibrator(options: .init()), try MSECalibrator(options: .init())] {
      c.collect(CalibrationBatch(groupCount: 1, groupSize: 6, values: v))
      #expect(c.nonFiniteCount == 3)
      let a = try #require(try c.computeAmax(for: int4)?.first)
      #expect(a.isFinite && a > 0 && a <= 3)
    }
  }

  @Test func perChannelGroupsAndAllZero() throws {
    // Two channels; the second is all zero.
    let c = try MSECalibrator(options: .init())
    c.collect(CalibrationBatch(groupCount: 2, groupSize: 4, values: [1, -2, 0.5, 0.25, 0, 0, 0, 0]))
    let a = try #require(try c.computeAmax(for: int4))
    #expect(a.count == 2)
    #expect(a[0] > 0 && a[0] <= 2)
    #expect(a[1] == 0)
    #expect(try MaxCalibrator().computeAmax(for: int4) == nil)
  }

  @Test func badOptionsThrow() {
    #expect(throws: ConfigError.self) {
      try QuantizationEnvironment.builtin.calibrators["percentile"]!(.object(["percentile": .number(120)]))
    }
    #expect(throws: ConfigError.self) {
      try QuantizationEnvironment.builtin.calibrators["mse"]!(.object(["stps": .number(3)]))
    }
  }
}

/// Every histogram calibrator rejects too few bins, naming itself and the `bins` key.
@Suite struct HistogramBinsTests {
  @Test(arguments: ["percentile", "mse", "entropy"])
  func nothingCollectedAndAllZeroGroups(_ name: String) throws {
    let factory = try #require(QuantizationEnvironment.builtin.calibrators[name])
    let c = try factory(.object([:]))
    let int4 = CalibrationTarget(format: .int4) { v, a in
      QuantCodec.fakeQuantize(v, format: .int4, narrow: false, layout: GroupLayout(.perTensor, shape: [v.count]), amax: [a], blockSize: nil)
    }
    #expect(try c.computeAmax(for: int4) == nil)
    c.collect(CalibrationBatch(groupCount: 2, groupSize: 4, values: [1, -2, 0.5, 0.25, 0, 0, 0, 0]))
    let a = try #require(try c.computeAmax(for: int4))
    #expect(a.count == 2 && a[0] > 0 && a[0] <= 2 && a[1] == 0, "\(name): \(a)")
  }

  @Test(arguments: ["percentile", "mse", "entropy"])
  func tooFewBinsIsAConfigError(_ name: String) throws {
    let factory = try #require(QuantizationEnvironment.builtin.calibrators[name])
    #expect {
      try factory(.object(["bins": .number(8)]))
    } throws: { e in
      guard case ConfigError.invalidValue(let context, let path, _) = e else { return false }
      return context == "\(name) calibrator" && path == "bins"
    }
    _ = try factory(.object(["bins": .number(256)]))  // entropy needs bins >= its startBin (128)
  }
}
