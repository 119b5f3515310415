import Foundation
import QATKit
import QATPluginTesting
import Testing

@testable import QATRegistry

// The contributor kit's suites must pass on correct plugins and catch broken ones: each broken
// plugin below violates one rule, and the test checks that exactly that check fails.

/// A per-tensor integer quantizer with a learned range, broken on purpose: it ignores its
/// options and (when `wrongGradient`) reports twice the gradient of its range.
final class SloppyQuantizer: Quantizer {
  var isEnabled: Bool
  let attributes: QuantizerAttributes
  let amax = Tensor([1], requiresGrad: true)
  let wrongGradient: Bool
  init(attributes: QuantizerAttributes, wrongGradient: Bool) {
    self.attributes = attributes
    self.wrongGradient = wrongGradient
    isEnabled = attributes.enable
  }
  func stateTensors() -> [(String, Tensor)] { [("_amax", amax)] }
  func learnableParameters() -> [(String, Tensor)] { [("_amax", amax)] }
  func callAsFunction(_ x: Tensor) -> Tensor {
    guard isEnabled else { return x }
    let a = amax.item, s = a / 7
    let v = x.scalars.map { $0 / s }
    let y = try! Tensor(v.map { Swift.min(Swift.max($0.rounded(.toNearestOrEven), -8), 7) * s }, shape: x.shape)
    let factor: Float = wrongGradient ? 2 : 1
    return y.recording("sloppy", inputs: [x, amax]) { g in
      let gs = g.scalars
      var ga: Float = 0
      var gx = [Float](repeating: 0, count: gs.count)
      for i in gs.indices {
        let inside = v[i] >= -8 && v[i] <= 7
        gx[i] = inside ? gs[i] : 0
        let q = Swift.min(Swift.max(v[i].rounded(.toNearestOrEven), -8), 7)
        ga += gs[i] * (inside ? q - v[i] : q) / 7
      }
      return [try! Tensor(gx, shape: g.shape), Tensor([ga * factor])]
    }
  }
}

enum SloppyPlugin: QATPlugin {
  static let name = "Sloppy"
  static let summary = "broken on purpose"
  static func register(in registry: inout Registry) throws {
    try registry.register(quantizer: "sloppy", summary: "ignores options") { SloppyQuantizer(attributes: $0, wrongGradient: false) }
    try registry.register(quantizer: "sloppy_grad", summary: "wrong range gradient") { SloppyQuantizer(attributes: $0, wrongGradient: true) }
  }
}

/// `max` under another name (correct), and a calibrator that doubles its ranges and lets NaN in.
final class LooseCalibrator: Calibrator {
  var seen: [Float]?
  var nonFiniteCount: Int { 0 }
  func collect(_ batch: CalibrationBatch) {
    var m = seen ?? [Float](repeating: 0, count: batch.groupCount)
    for g in 0..<batch.groupCount {
      for v in batch.values[(g * batch.groupSize)..<((g + 1) * batch.groupSize)] { m[g] = Swift.max(m[g], Swift.abs(v) * 2) }
    }
    seen = m
  }
  func computeAmax(for target: CalibrationTarget) throws -> [Float]? { seen }
  func reset() { seen = nil }
}

enum CalibratorsPlugin: QATPlugin {
  static let name = "Calibrators"
  static let summary = "a correct and a loose calibrator"
  static func register(in registry: inout Registry) throws {
    try registry.register(calibrator: "test_max", summary: "max") { options in
      _ = try JSONValue.decodeOptions(options, as: NoOptions.self, context: "test_max options")
      return MaxCalibrator()
    }
    try registry.register(calibrator: "loose", summary: "broken") { options in
      _ = try JSONValue.decodeOptions(options, as: NoOptions.self, context: "loose options")
      return LooseCalibrator()
    }
  }
}

/// An MSE criterion that ignores masks and forgets its options in `spec`.
struct MaskBlindCriterion: JSONCriterion {
  static let kind = "mask_blind"
  struct Options: PluginOptions { var scale: Float = 1 }
  let options: Options
  var name: String { Self.kind }
  init(json: JSONValue) throws { options = try StrictJSON.decode(Options.self, from: json, kind: Self.kind) }
  func loss(student: Tensor, teacher: Tensor, extras: CriterionExtras) -> Tensor { Loss.mse(student, teacher) * options.scale }
}

/// A balancer whose learned weight never reaches the total (so no optimizer step moves it).
final class DeafBalancer: JSONLossBalancer {
  static let kind = "deaf"
  let weight = Tensor([1], requiresGrad: true)
  var name: String { Self.kind }
  init(json: JSONValue) throws { _ = try StrictJSON.decode(NoOptions.self, from: json, kind: Self.kind) }
  func balance(_ losses: [(String, Tensor)], studentLoss: Tensor?) throws -> Tensor {
    var total = losses[0].1
    for (_, l) in losses.dropFirst() { total = total + l }
    return studentLoss.map { total + $0 } ?? total
  }
  func learnableParameters() -> [(String, Tensor)] { [("weight", weight)] }
}

enum KDPartsPlugin: QATPlugin {
  static let name = "KDParts"
  static let summary = "broken criterion and balancer"
  static func register(in registry: inout Registry) throws {
    try registry.register(criterion: MaskBlindCriterion.kind, summary: "ignores masks") { try MaskBlindCriterion(json: $0) }
    try registry.register(balancer: DeafBalancer.kind, summary: "unused weight") { try DeafBalancer(json: $0) }
  }
}

/// A mode that inserts quantizers but does not rebuild them on restore.
enum ForgetfulMode: Mode {
  struct Config: Codable, Equatable { var factor: Float }
  static let name = "test_forgetful"
  static let summary = "forgets on restore"
  static func convert(_ model: Module, config: Config, context: ModeContext) throws -> (Module, JSONValue) {
    for (_, m) in model.namedModules() where m is Linear { m.setQuantizer(ScaleQuantizer(config.factor), slot: "output_quantizer") }
    return (model, .null)
  }
  static func restore(_ model: Module, config: Config, metadata: JSONValue, context: ModeContext) throws -> Module { model }
}

enum ForgetfulPlugin: QATPlugin {
  static let name = "Forgetful"
  static let summary = "broken restore"
  static func register(in registry: inout Registry) throws { try registry.register(mode: ForgetfulMode.self) }
}

/// Calibration algorithms broken on purpose: one forgets to calibrate the activations and
/// ignores its options; one changes what a checkpoint does not hold (it switches fc1's weight
/// quantizer off, a flag the quantize mode does not record), so a restored model differs.
final class CarelessAlgorithm: CalibrationAlgorithm {
  let offTheRecord: Bool
  init(offTheRecord: Bool) { self.offTheRecord = offTheRecord }
  func run(_ session: CalibrationSession) throws -> JSONValue {
    try session.calibrate(weights: true, activations: offTheRecord)
    if offTheRecord { session.linearLayers()[0].weightQuantizer.isEnabled = false }
    return .object([:])
  }
}

enum CarelessPlugin: QATPlugin {
  static let name = "Careless"
  static let summary = "broken on purpose"
  static func register(in registry: inout Registry) throws {
    try registry.register(algorithm: "careless", summary: "forgets activations, ignores options") { _ in CarelessAlgorithm(offTheRecord: false) }
    try registry.register(algorithm: "off_the_record", summary: "changes an unrecorded flag") { _ in CarelessAlgorithm(offTheRecord: true) }
  }
}

@Suite struct PluginKitTests {
  func failed(_ report: ConformanceReport) -> [String] { report.failures.map(\.name) }

  @Test func calibrationAlgorithmSuiteCatchesForgottenRangesIgnoredOptionsAndSideTables() {
    let config = QuantizeConfig.weightsAndActivations(weights: .int(4, axis: 0), activations: .int(8))
    let careless = CalibrationAlgorithmConformance(plugin: CarelessPlugin.self, algorithm: "careless", configs: [config]).run()
    #expect(failed(careless).contains { $0.hasPrefix("converts by name") }, "\(careless.details)")
    let side = CalibrationAlgorithmConformance(plugin: CarelessPlugin.self, algorithm: "off_the_record", configs: [config]).run()
    #expect(failed(side).contains { $0.hasPrefix("save → restore without the plugin") }, "\(side.details)")
    #expect(failed(side).contains { $0.hasPrefix("bad options") }, "\(side.details)")
  }

  @Test func quantizerSuiteCatchesIgnoredOptionsAndWrongGradients() {
    let surrogate = STESurrogate { input, frozen in
      let s = input.state["_amax"]![0] / 7
      return input.x.map { frozen.round(frozen.clamp($0 / s, -8, 7)) * s }
    }
    let ignoring = QuantizerConformance(plugin: SloppyPlugin.self, algorithm: "sloppy", cases: [.weight(.int(4))], surrogate: surrogate).run()
    // It also never calibrates (its range stays 1): the suite reports that too.
    #expect(failed(ignoring).contains { $0.hasPrefix("an unknown option key") }, "\(ignoring.details)")
    #expect(failed(ignoring).contains { $0.hasPrefix("calibration sets the state") }, "\(ignoring.details)")
    #expect(failed(ignoring).count == 2, "\(ignoring.details)")
    let wrong = QuantizerConformance(plugin: SloppyPlugin.self, algorithm: "sloppy_grad", cases: [.weight(.int(4))], surrogate: surrogate).run()
    #expect(failed(wrong).contains { $0.hasPrefix("backward matches finite differences") }, "\(wrong.details)")
    let refused = QuantizerConformance(
      plugin: SloppyPlugin.self, algorithm: "sloppy", cases: [.weight(.int(4))], unsupported: [QuantizerAttributes(format: .e4m3)],
      surrogate: surrogate
    ).run()
    #expect(failed(refused).contains { $0.hasPrefix("refuses") }, "a quantizer that accepts everything must fail 'refuses'")
  }

  @Test func calibratorSuitePassesMaxAndCatchesALooseCalibrator() {
    let good = CalibratorConformance(plugin: CalibratorsPlugin.self, name: "test_max").run()
    #expect(good.passed, "\(good)")
    let loose = CalibratorConformance(plugin: CalibratorsPlugin.self, name: "loose").run()
    let names = failed(loose)
    #expect(names.contains { $0.hasPrefix("the range contract") }, "\(loose.details)")
    #expect(names.contains { $0.hasPrefix("NaN and ±Inf") }, "\(loose.details)")
  }

  @Test func criterionSuiteCatchesIgnoredMasksAndALossySpec() {
    let spec = JSONValue.object(["kind": .string("mask_blind"), "scale": .number(2)])
    let report = CriterionConformance(plugin: KDPartsPlugin.self, kind: "mask_blind", specs: [spec]).run()
    let names = failed(report)
    #expect(names.contains { $0.hasPrefix("masks") }, "\(report.details)")
    #expect(names.contains { $0.hasPrefix("builds by kind, and its spec round-trips") }, "\(report.details)")
  }

  @Test func balancerSuiteCatchesAWeightThatNeverLearns() {
    let report = BalancerConformance(plugin: KDPartsPlugin.self, kind: "deaf", specs: [.object(["kind": .string("deaf")])]).run()
    #expect(failed(report).contains { $0.hasPrefix("works by name in kd_loss") }, "\(report.details)")
  }

  @Test func modeSuitePassesAGoodModeAndCatchesAForgetfulRestore() {
    let good = ModeConformance(
      plugin: TestPlugin.self, mode: "test_scale", config: .object(["factor": .number(2)]),
      failingConfig: .object(["factor": .number(2), "failAfterInsert": .bool(true)]),
      makeModel: { MLP([8, 5, 3], seed: 1) }
    ).run()
    #expect(good.passed, "\(good.details)")
    let forgetful = ModeConformance(
      plugin: ForgetfulPlugin.self, mode: "test_forgetful", config: .object(["factor": .number(2)]),
      makeModel: { MLP([8, 5, 3], seed: 1) }
    ).run()
    #expect(failed(forgetful).contains { $0.hasPrefix("save → restore") }, "\(forgetful.details)")
  }
}
