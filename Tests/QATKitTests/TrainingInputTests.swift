import Foundation
import QATPluginTesting
import Testing
@testable import QATKit

/// Issue 10, defect 7: data meeting a model is user input. A label of 12 for a 10-class model
/// crashed in `crossEntropy`, a wrong feature count in `matmul`, batch size 0 in
/// `Dataset.batches`; a label of -1 scored 0 silently. Now each is a typed error before
/// training or evaluation touches anything.
@Suite struct TrainingInputTests {
  /// Ten rows of four features, labels 0..<3 unless replaced.
  private func dataset(labels: [Int]? = nil, features: Int = 4) throws -> Dataset {
    let rows = labels?.count ?? 10
    var rng = RandomGenerator(seed: 1)
    return try Dataset(
      features: Tensor.randn([rows, features], using: &rng).scalars, labels: labels ?? (0..<rows).map { $0 % 3 },
      featureCount: features)
  }

  private func fit(_ model: Module, _ data: Dataset, batchSize: Int = 4, epochs: Int = 1) throws {
    let optimizer = SGD(model.parameters(), learningRate: 0.1)
    try Training.fit(model, data: data, epochs: epochs, batchSize: batchSize, optimizer: optimizer) { x, y in
      Loss.crossEntropy(model(x), y)
    }
  }

  /// Runs `body` (expected to throw `expected`) and checks that the model's weights did not move.
  private func expectUnchanged(
    _ model: Module, throws expected: (any Error) -> Bool, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
  ) {
    let before = model.stateDict().map { $0.1.scalars }
    #expect(sourceLocation: sourceLocation) { try body() } throws: { expected($0) }
    #expect(model.stateDict().map { $0.1.scalars } == before, sourceLocation: sourceLocation)
  }

  @Test func labelsOutsideTheClassesAreTypedErrors() throws {
    let model = MLP([4, 8, 3], seed: 2)
    var labels = (0..<10).map { $0 % 3 }
    labels[7] = 12
    let tooLarge = try dataset(labels: labels)
    expectUnchanged(model, throws: { ($0 as? DataError) == .labelOutOfRange(row: 7, label: 12, classes: 3) }) {
      try fit(model, tooLarge)
    }
    #expect(throws: DataError.labelOutOfRange(row: 7, label: 12, classes: 3)) { try Training.accuracy(model, on: tooLarge) }
    labels[7] = 1
    labels[2] = -1
    let negative = try dataset(labels: labels)
    expectUnchanged(model, throws: { ($0 as? DataError) == .labelOutOfRange(row: 2, label: -1, classes: 3) }) {
      try fit(model, negative)
    }
    #expect(throws: DataError.labelOutOfRange(row: 2, label: -1, classes: 3)) {
      try Training.accuracy(model, on: negative, batchSize: 3)
    }
    #expect("\(DataError.labelOutOfRange(row: 2, label: -1, classes: 3))".contains("row 2 has label -1"))
  }

  @Test func aWrongFeatureCountIsATypedError() throws {
    let model = MLP([4, 8, 3], seed: 2)
    let wide = try dataset(features: 5)
    let isInputError: (any Error) -> Bool = { e in
      guard case ModuleError.incompatibleInput(let path, let shape, _) = e else { return false }
      return path == "fc1" && shape.last == 5
    }
    expectUnchanged(model, throws: isInputError) { try fit(model, wide) }
    #expect { try Training.accuracy(model, on: wide) } throws: { isInputError($0) }
  }

  @Test func batchSizeZeroAndNegativeEpochsAreTypedErrors() throws {
    let model = MLP([4, 8, 3], seed: 2)
    let data = try dataset()
    for size in [0, -3] {
      #expect(throws: DataError.invalidBatchSize(size)) { try data.batches(size: size) }
      #expect(throws: DataError.invalidBatchSize(size)) { try Training.accuracy(model, on: data, batchSize: size) }
      expectUnchanged(model, throws: { ($0 as? DataError) == .invalidBatchSize(size) }) { try fit(model, data, batchSize: size) }
    }
    expectUnchanged(model, throws: { ($0 as? DataError) == .invalidEpochCount(-1) }) { try fit(model, data, epochs: -1) }
    // What fits trains and evaluates.
    try fit(model, data, epochs: 2)
    let accuracy = try Training.accuracy(model, on: data)
    #expect(accuracy >= 0 && accuracy <= 1)
  }

  /// A quantizer that cannot take a later batch (here a hand-set range with one entry per row of
  /// a 4-row batch, which the last batch of 2 rows does not have) stops training with an error
  /// before the optimizer steps on that batch; `model(x)` would trap there.
  @Test func aLaterBatchAQuantizerCannotTakeStopsTraining() throws {
    let model = MLP([4, 8, 3], seed: 2)
    let q = try TensorQuantizer(attributes: .int(8, axis: 0))
    try q.setAmax(Tensor.full([4, 1], 3))
    model.layers[0].setQuantizer(q, slot: "input_quantizer")
    var steps = 0
    let optimizer = SGD(model.parameters(), learningRate: 0.1)
    #expect {
      try Training.fit(model, data: try dataset(), epochs: 1, batchSize: 4, optimizer: optimizer) { x, y in
        steps += 1
        return Loss.crossEntropy(model(x), y)
      }
    } throws: { e in
      guard case QuantizerError.incompatibleInput(let path, let shape, _) = e else { return false }
      return path == "fc1.input_quantizer" && shape == [2, 4]
    }
    #expect(steps == 3)  // two full batches trained, the third (2 rows) rejected
  }

  /// The data-parallel `fit` and `accuracy` make the same up-front checks on every rank: a bad
  /// label or batch size is the same typed error on both ranks (no rank left waiting in an
  /// all-reduce), and no replica's weights move.
  @Test func dataParallelPathsThrowTheSameTypedErrors() throws {
    var labels = (0..<10).map { $0 % 3 }
    labels[7] = 12
    let bad = try dataset(labels: labels)
    let wide = try dataset(features: 5)
    let results = LocalRanks.run(2) { comm -> [String] in
      let model = MLP([4, 8, 3], seed: 2)
      let before = model.stateDict().map { $0.1.scalars }
      var errors: [String] = []
      for (data, batch) in [(bad, 4), (wide, 4), (bad, 0)] {
        do {
          try Training.fit(
            model, data: data, epochs: 1, batchSize: batch, optimizer: SGD(model.parameters(), learningRate: 0.1),
            communicator: comm) { x, y in Loss.crossEntropy(model(x), y) }
          errors.append("fit accepted")
        } catch { errors.append("fit: \(type(of: error)) \(error)") }
        do {
          _ = try Training.accuracy(model, on: data, batchSize: max(batch, 1), communicator: comm)
          errors.append("accuracy accepted")
        } catch { errors.append("accuracy: \(type(of: error))") }
      }
      errors.append(model.stateDict().map { $0.1.scalars } == before ? "unchanged" : "moved")
      return errors
    }
    let r0 = try results[0].get(), r1 = try results[1].get()
    #expect(r0 == r1)
    #expect(r0[0].hasPrefix("fit: DataError") && r0[0].contains("row 7 has label 12"), "\(r0)")
    #expect(r0[1] == "accuracy: DataError")
    #expect(!r0[2].contains("accepted") && !r0[3].contains("accepted"), "\(r0)")
    #expect(r0[4].hasPrefix("fit: DataError") && r0[4].contains("0"), "\(r0)")
    #expect(r0.last == "unchanged")
  }

  /// A loss that does not read labels as classes (label-free distillation) opts out of the label
  /// check; the feature-count check still holds.
  @Test func labelFreeTrainingSkipsTheLabelCheck() throws {
    let model = MLP([4, 8, 3], seed: 2)
    var labels = (0..<10).map { $0 % 3 }
    labels[7] = 12
    let data = try dataset(labels: labels)
    let before = model.stateDict().map { $0.1.scalars }
    try Training.fit(
      model, data: data, epochs: 1, batchSize: 4, optimizer: SGD(model.parameters(), learningRate: 0.1), labelsAreClasses: false
    ) { x, _ in model(x).squared().mean() }
    #expect(model.stateDict().map { $0.1.scalars } != before)
    #expect(throws: (any Error).self) {
      try Training.fit(
        model, data: try dataset(features: 5), epochs: 1, batchSize: 4, optimizer: SGD(model.parameters(), learningRate: 0.1),
        labelsAreClasses: false
      ) { x, _ in model(x).squared().mean() }
    }
  }
}
