import Foundation
import QATKit
import QATPluginLSQ
import QATPlugins
import QATRegistry
import QATTestSupport
import Testing

/// The README's API walkthrough, compiled and run (on fewer epochs).
@Suite struct ReadmeExampleTests {
  @Test func walkthrough() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    // README: begin
    let (train, test) = try Digits.load()
    let teacher = MLP([64, 256, 256, 10])
    try Training.fit(teacher, data: train, epochs: 3, batchSize: 64,  // README: 30 epochs
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
                            forwardLoop: { m in for b in try train.batches(size: 256) { _ = m(b.inputs) } })

    let optimizer = Adam(model.parameters(), learningRate: 1e-4)
    try Training.fit(model, data: train, epochs: 1, batchSize: 64, optimizer: optimizer) { x, y in  // README: 10
      try model.computeKDLoss(studentLoss: Loss.crossEntropy(model(x), y))
    }
    print("QAT+KD test accuracy:", try Training.accuracy(model, on: test))

    let url = dir.appendingPathComponent("student.safetensors")
    try save(model, to: url, registry: registry)                    // teacher not saved
    let restored = try restore(MLP([64, 256, 256, 10]), from: url, registry: registry)
    print(try inspectCheckpoint(at: url))
    // README: end
    #expect(try Training.accuracy(model, on: test) > 0.8)
    model.eval(); restored.eval()
    #expect(Tensor.withoutGrad { restored(test.all.inputs).scalars == model(test.all.inputs).scalars })
    // The same by name, as recipes and the command line do:
    let json = try JSONValue(parsing: #"{"quantCfg": [{"quantizerName": "*weight_quantizer", "cfg": {"format": "int8", "axis": 0}}]}"#)
    let byName = try convert(MLP([64, 10]), modes: [.named("quantize", json)], registry: registry)
    #expect(byName.modeHistory.map(\.name) == ["quantize"])
  }

  /// The README's "your own data and model" walkthrough, compiled and run with the README's
  /// settings (paths are relative to the package root in the README).
  @Test func yourOwnDataAndModel() throws {
    func example(_ path: String) -> URL { Examples.packageRoot.appendingPathComponent(path) }  // README: URL(fileURLWithPath:)
    // README: begin byo
    // A CSV with string labels: a stratified, seeded split; standardization fitted on the training rows.
    let data = try Dataset(contentsOf: example("Examples/byo/iris.csv"), labelColumn: "species")
    let (rawTrain, rawTest) = try data.split(testFraction: 0.2, seed: 0)
    let scaler = Standardizer(fitting: rawTrain)
    let (train, test) = (try scaler.transform(rawTrain), try scaler.transform(rawTest))

    // FP32 → PTQ (W4 per-channel, A4) on a deep copy → QAT; the FP32 model stays as it is.
    let fp32 = try Architecture.mlp([4, 16, 16, 3]).build(seed: 0)
    try Training.fit(fp32, data: train, epochs: 100, batchSize: 12, optimizer: Adam(fp32.parameters(), learningRate: 1e-3)) {
      Loss.crossEntropy(fp32($0), $1)
    }
    let student = try fp32.copy()
    try convert(student, modes: [.quantize(.weightsAndActivations(weights: .int(4, axis: 0), activations: .int(4)))],
                forwardLoop: { m in for b in try train.batches(size: 256) { _ = m(b.inputs) } })
    let ptqAccuracy = try Training.accuracy(student, on: test)
    try Training.fit(student, data: train, epochs: 33, batchSize: 12, optimizer: Adam(student.parameters(), learningRate: 1e-4)) {
      Loss.crossEntropy(student($0), $1)
    }
    print("classes:", data.labelNames!, "FP32:", try Training.accuracy(fp32, on: test),
          "PTQ:", ptqAccuracy, "QAT:", try Training.accuracy(student, on: test))

    // A model PyTorch trained: its layers listed in PyTorch's names, weights loaded strictly by name.
    let cnn = try Architecture(contentsOf: example("Examples/byo/cnn_seq_digits.json"))
      .load(weights: example("Examples/byo/cnn_seq_digits.safetensors"))
    let images = try Digits.load().test.shaped([1, 8, 8])        // batches are [N, 1, 8, 8]
    print("PyTorch CNN:", try Training.accuracy(cnn, on: images))
    // README: end byo
    #expect(data.labelNames == ["setosa", "versicolor", "virginica"])
    #expect(try Training.accuracy(fp32, on: test) > 0.9)
    #expect(try Training.accuracy(student, on: test) > 0.85)
    struct Expected: Decodable { struct M: Decodable { let test_accuracy: Double }; let cnn_seq_digits: M }
    let e = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: example("Examples/byo/expected.json")))
    #expect(abs(Double(try Training.accuracy(cnn, on: images)) - e.cnn_seq_digits.test_accuracy) < 1e-6)
  }
}
