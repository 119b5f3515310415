import Foundation
import QATKit
import Testing
@testable import QATRegistry

/// The built-in modes through the registry: quantize and kd_loss composed both ways,
/// checkpoints of quantized and distilled models.
@Suite struct CompositionTests {
  let data: Tensor = {
    var rng = RandomGenerator(seed: 11)
    return Tensor.randn([16, 64], using: &rng)
  }()

  func calibrate(_ m: Module) { for i in 0..<2 { _ = m(data.slice(axis: 0, (i * 8)..<(i * 8 + 8))) } }

  @Test func quantizedTransformerRoundTripsBitIdentically() throws {
    let m = DigitsTransformer(dim: 16, heads: 2, seed: 4)
    let config = QuantizeConfig(preset: .int8)
      .adding("*_bmm_quantizer", .int(8))
      .adding("head.weight_quantizer", .int(4, axis: 0))
    try convert(m, modes: [.quantize(config)], registry: .builtin, forwardLoop: calibrate)
    let paths = m.namedQuantizers().map(\.0)
    #expect(paths.contains("block.attention.q_bmm_quantizer"))
    #expect(paths.contains("block.attention.p_bmm_quantizer"))
    let url = tempURL("transformer.safetensors")
    try save(m, to: url)
    let fresh = DigitsTransformer(dim: 16, heads: 2, seed: 99)
    try restore(fresh, from: url)
    m.eval(); fresh.eval()
    #expect(Tensor.withoutGrad { fresh(data).scalars == m(data).scalars })
    #expect(fresh.modeHistory.map(\.name) == ["quantize"])
    let summary = try inspectCheckpoint(at: url)
    #expect(summary.ranges.contains { $0.path == "block.attention.p_bmm_quantizer" })
  }

  @Test func quantizeAndKDInOneCallThenRestoreWithoutTeacher() throws {
    let teacher = MLP([64, 32, 10], seed: 1)
    let student = MLP([64, 32, 10], seed: 2)
    let teacherState = teacher.stateDict().map { $0.1.scalars }
    let kd = try KDConfig(teacher: teacher, criterion: LogitsKLCriterion(temperature: 2), balancer: StaticBalancer(kdWeight: 0.5))
    let dm = try convert(
      student, modes: [.quantize(.w4a8), .kdLoss(kd)], registry: .builtin, forwardLoop: calibrate)
    #expect(dm.modeHistory.map(\.name) == ["quantize", "kd_loss"])
    let opt = Adam(dm.parameters(), learningRate: 1e-3)
    let labels = (0..<16).map { $0 % 10 }
    for _ in 0..<3 {
      opt.zeroGrad()
      let loss = try dm.computeKDLoss(studentLoss: Loss.crossEntropy(dm(data), labels))
      loss.backward()
      opt.step()
    }
    #expect(teacher.stateDict().map { $0.1.scalars } == teacherState, "the teacher changed")
    let url = tempURL("distilled.safetensors")
    try save(dm, to: url)
    let summary = try inspectCheckpoint(at: url)
    #expect(summary.modes.map(\.name) == ["quantize"], "kd_loss is not saved: it holds a live teacher")
    #expect(summary.tensors.allSatisfy { !$0.name.hasPrefix("teacher") })
    let fresh = MLP([64, 32, 10], seed: 3)
    try restore(fresh, from: url)
    dm.eval(); fresh.eval()
    #expect(Tensor.withoutGrad { fresh(data).scalars == dm(data).scalars })
  }

  @Test func restoreQuantizedCheckpointThenAddDistillation() throws {
    let student = MLP([64, 32, 10], seed: 2)
    try convert(student, modes: [.quantize(.int8)], forwardLoop: calibrate)
    let url = tempURL("ptq.safetensors")
    try save(student, to: url)
    let restored = MLP([64, 32, 10], seed: 5)
    try restore(restored, from: url)
    let kd = try KDConfig(teacher: MLP([64, 32, 10], seed: 1), criterion: LogitsKLCriterion())
    let dm = try convert(restored, modes: [.kdLoss(kd)])
    #expect(dm.modeHistory.map(\.name) == ["quantize", "kd_loss"])
    #expect(dm.namedQuantizers().count == restored.namedQuantizers().count)
    // Export closes kd_loss and hands back the student with its quantizers.
    let exported = try convert(dm, modes: [.exportStudent])
    #expect(exported === restored)
    #expect(exported.namedQuantizers().count == 4)
  }

  @Test func kdLossCannotBeFollowedByQuantize() throws {
    let kd = try KDConfig(teacher: MLP([64, 32, 10], seed: 1), criterion: LogitsKLCriterion())
    #expect {
      try convert(MLP([64, 32, 10], seed: 2), modes: [.kdLoss(kd), .quantize(.int8)], forwardLoop: calibrate)
    } throws: { e in
      if case RegistryError.chainNotAllowed(let prev, let next, _) = e { return prev == "kd_loss" && next == "quantize" }
      return false
    }
  }

  @Test func badQuantizeConfigLeavesModelUnchanged() throws {
    let m = MLP([64, 32, 10], seed: 2)
    let before = Tensor.withoutGrad { m(data).scalars }
    let bad: JSONValue = try JSONValue(parsing: #"{"quantCfg": [{"quantizerName": "*weight_quantizer", "cfg": {"format": "int8", "axsi": 0}}]}"#)
    #expect {
      try convert(m, modes: [.named("quantize", bad)], forwardLoop: calibrate)
    } throws: { "\($0)".contains("axsi") }
    #expect(m.namedQuantizers().isEmpty)
    #expect(Tensor.withoutGrad { m(data).scalars } == before)
  }
}
