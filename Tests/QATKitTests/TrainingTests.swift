import QATTestSupport
import Testing

@testable import QATKit

@Suite("TrainingTests")
struct TrainingTests {
  @Test("a seeded MLP learns the digits: 3 epochs of Adam reach at least 93% test accuracy")
  // 64-128-10 with lr 3e-3 reaches 0.95-0.96 for seeds 0-3 and keeps the debug run short.
  func mlpLearns() throws {
    let (train, test) = try Digits.load()
    let model = MLP([64, 128, 10], seed: 0)
    #expect(try Training.accuracy(model, on: test) < 0.3)
    let optimizer = Adam(model.trainableParameters(), learningRate: 3e-3)
    var losses: [Float] = []
    try Training.fit(
      model, data: train, epochs: 3, batchSize: 64, optimizer: optimizer, seed: 0,
      loss: { Loss.crossEntropy(model($0), $1) }, epochEnd: { losses.append($1) })
    #expect(losses.count == 3)
    #expect(losses[2] < losses[0] && losses[1] < losses[0])
    let accuracy = try Training.accuracy(model, on: test)
    #expect(accuracy >= 0.93, "test accuracy \(accuracy), epoch losses \(losses)")
    #expect(model.training)  // fit leaves the model in training mode, accuracy restores it
  }

  /// Takes `steps` Adam steps on one fixed batch and returns the first and last loss.
  private func fitBatch(_ model: Module, steps: Int, learningRate: Float) throws -> (first: Float, last: Float) {
    let batch = try Digits.load().train.prefix(32).all
    let optimizer = Adam(model.trainableParameters(), learningRate: learningRate)
    var losses: [Float] = []
    for _ in 0..<steps {
      optimizer.zeroGrad()
      let loss = Loss.crossEntropy(model(batch.inputs), batch.labels)
      loss.backward()
      optimizer.step()
      losses.append(loss.item)
    }
    return (losses[0], losses[steps - 1])
  }

  @Test("SmallCNN loss decreases")
  func cnnLearns() throws {
    let (first, last) = try fitBatch(SmallCNN(seed: 0), steps: 12, learningRate: 1e-2)
    #expect(last < 0.6 * first, "loss \(first) → \(last)")
  }

  @Test("DigitsTransformer loss decreases")
  func transformerLearns() throws {
    let (first, last) = try fitBatch(DigitsTransformer(dim: 16, heads: 2, seed: 0), steps: 8, learningRate: 1e-2)
    #expect(last < 0.6 * first, "loss \(first) → \(last)")
  }
}
