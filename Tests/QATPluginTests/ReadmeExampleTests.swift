import Foundation
import QATKit
import QATPluginLSQ
import QATPlugins
import QATRegistry
import Testing

/// The README's API walkthrough, compiled and run (on fewer epochs).
@Suite struct ReadmeExampleTests {
  @Test func walkthrough() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    // README: begin
    let (train, test) = try Digits.load()
    let teacher = MLP([64, 256, 256, 10])
    Training.fit(teacher, data: train, epochs: 3, batchSize: 64,  // README: 30 epochs
                 optimizer: Adam(teacher.parameters(), learningRate: 1e-3)) { x, y in
      Loss.crossEntropy(teacher(x), y)
    }

    var registry = Registry.builtin
    try registry.register(LSQPlugin.self)              // a plugin adds "lsq" by name

    // W3 per-channel weights, A4 activations with learned (LSQ) ranges, MSE-initialized.
    var act = QuantizerAttributes.int(4, calibrator: "mse")
    act.algorithm = "lsq"
    let config = QuantizeConfig.weightsAndActivations(weights: .int(3, axis: 0), activations: act)

    let student = MLP([64, 256, 256, 10])
    try student.loadStateDict(Dictionary(uniqueKeysWithValues: teacher.stateDict().map { ($0.0, $0.1.copy()) }))
    let kd = try KDConfig(teacher: teacher, criterion: LogitsKLCriterion(temperature: 1),
                          balancer: StaticBalancer(kdWeight: 0.5))
    let model = try convert(student, modes: [.quantize(config), .kdLoss(kd)], registry: registry,
                            forwardLoop: { m in for b in train.batches(size: 256) { _ = m(b.inputs) } })

    let optimizer = Adam(model.parameters(), learningRate: 1e-4)
    try Training.fit(model, data: train, epochs: 1, batchSize: 64, optimizer: optimizer) { x, y in  // README: 10
      try model.computeKDLoss(studentLoss: Loss.crossEntropy(model(x), y))
    }
    print("QAT+KD test accuracy:", Training.accuracy(model, on: test))

    let url = dir.appendingPathComponent("student.safetensors")
    try save(model, to: url, registry: registry)                    // teacher not saved
    let restored = try restore(MLP([64, 256, 256, 10]), from: url, registry: registry)
    print(try inspectCheckpoint(at: url))
    // README: end
    #expect(Training.accuracy(model, on: test) > 0.8)
    model.eval(); restored.eval()
    #expect(Tensor.withoutGrad { restored(test.all.inputs).scalars == model(test.all.inputs).scalars })
    // The same by name, as recipes and the command line do:
    let json = try JSONValue(parsing: #"{"quantCfg": [{"quantizerName": "*weight_quantizer", "cfg": {"format": "int8", "axis": 0}}]}"#)
    let byName = try convert(MLP([64, 10]), modes: [.named("quantize", json)], registry: registry)
    #expect(byName.modeHistory.map(\.name) == ["quantize"])
  }
}
