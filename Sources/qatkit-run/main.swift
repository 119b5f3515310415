import Foundation
import QATKit

let (train, test) = try Digits.load()
let model = MLP([64, 256, 256, 10])
let opt = Adam(model.parameters(), learningRate: 1e-3)
let t0 = Date()
Training.fit(model, data: train, epochs: 30, batchSize: 64, optimizer: opt, loss: { x, y in Loss.crossEntropy(model(x), y) }) { e, l in
  if e % 5 == 4 { print("epoch \(e + 1) loss \(l) test \(Training.accuracy(model, on: test))") }
}
print("time", Date().timeIntervalSince(t0))
