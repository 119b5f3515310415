import QATTestSupport
import Testing

@testable import QATKit
import QATPluginTesting

/// Gradients fed to the optimizers at steps 1, 2, 3 for the parameter `[1, -2]`.
private let gradients: [[Float]] = [[0.5, -1], [0.2, 0.4], [-0.3, 0.1]]

/// Runs three steps and returns the parameter after each.
private func run(_ make: ([Tensor]) -> any Optimizer) -> [[Float]] {
  let p = Tensor([1, -2], requiresGrad: true)
  let opt = make([p])
  var out: [[Float]] = []
  for g in gradients {
    opt.zeroGrad()
    #expect(p.grad == nil)
    p.grad = Tensor(g)
    opt.step()
    out.append(p.scalars)
  }
  return out
}

private func expectSteps(_ got: [[Float]], _ expected: [[Float]], sourceLocation: SourceLocation = #_sourceLocation) {
  for (g, e) in zip(got, expected) {
    #expect(allClose(g, e, atol: 1e-6, rtol: 1e-6), "\(g) vs \(e)", sourceLocation: sourceLocation)
  }
}

// Expected values: PyTorch's update rules (torch.optim.SGD / Adam / AdamW docs) evaluated by
// hand in double precision.
@Suite("OptimizerTests")
struct OptimizerTests {
  @Test("SGD without momentum")
  func sgdPlain() {
    expectSteps(run { SGD($0, learningRate: 0.1) }, [[0.95, -1.9], [0.93, -1.94], [0.96, -1.95]])
  }

  @Test("SGD with momentum 0.9 and weight decay 0.1")
  func sgdMomentum() {
    expectSteps(
      run { SGD($0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.1) },
      [[0.94, -1.88], [0.8566, -1.7932], [0.802974, -1.707148]])
  }

  @Test("Adam with PyTorch defaults")
  func adam() {
    expectSteps(
      run { Adam($0, learningRate: 0.1) },
      [[0.900000002, -1.900000001], [0.8101424839029282, -1.865439416662626], [0.7805871509237353, -1.8447499006515093]])
  }

  @Test("Adam with L2 weight decay")
  func adamL2() {
    expectSteps(
      run { Adam($0, learningRate: 0.1, weightDecay: 0.1) },
      [[0.9000000016666666, -1.9000000008333333], [0.8072814605072346, -1.846831886458653], [0.7591889719520595, -1.80139767437706]])
  }

  @Test("AdamW (decoupled weight decay)")
  func adamW() {
    expectSteps(
      run { AdamW($0, learningRate: 0.1, weightDecay: 0.1) },
      [[0.890000002, -1.880000001], [0.7912424838829282, -1.826639416652626], [0.753774726064906, -1.7876835064749832]])
  }

  @Test("parameters without a gradient are left alone")
  func noGradient() {
    let a = Tensor([1], requiresGrad: true), b = Tensor([2], requiresGrad: true)
    let opt = Adam([a, b], learningRate: 0.1)
    a.grad = Tensor([1])
    opt.step()
    #expect(b.scalars == [2])
    #expect(a.scalars != [1])
  }

  @Test("learning-rate schedules")
  func schedules() {
    #expect((0..<3).map { LRSchedule.constant.rate(at: $0, base: 0.1) } == [0.1, 0.1, 0.1])
    #expect((0..<5).map { LRSchedule.step(every: 2, gamma: 0.5).rate(at: $0, base: 1) } == [1, 1, 0.5, 0.5, 0.25])
    let cosine = LRSchedule.cosine(total: 4, minimum: 0.1)
    let values = [0, 1, 2, 4, 6].map { cosine.rate(at: $0, base: 1) }
    // 0.1 + 0.9·(1 + cos(π·t/4))/2
    #expect(allClose(values, [1, 0.1 + 0.45 * (1 + Float(0.5).squareRoot()), 0.55, 0.1, 0.1], atol: 1e-6))
    let warm = LRSchedule.warmup(steps: 4, then: .step(every: 1, gamma: 0.5))
    #expect((0..<6).map { warm.rate(at: $0, base: 1) } == [0.25, 0.5, 0.75, 1, 1, 0.5])
  }

  @Test("clipGradNorm scales to the maximum norm and reports the norm before")
  func clip() {
    let a = Tensor([0, 0], requiresGrad: true), b = Tensor([0], requiresGrad: true)
    a.grad = Tensor([3, 4])
    b.grad = Tensor([12])
    #expect(clipGradNorm([a, b], maxNorm: 100) == 13)
    #expect(a.grad?.scalars == [3, 4])
    #expect(clipGradNorm([a, b], maxNorm: 6.5) == 13)
    #expect(allClose(a.grad!.scalars + b.grad!.scalars, [1.5, 2, 6], atol: 1e-5))
    let norm = (a.grad!.scalars + b.grad!.scalars).reduce(0) { $0 + $1 * $1 }.squareRoot()
    #expect(isClose(norm, 6.5, atol: 1e-5))
  }

  @Test("an optimizer drives a quadratic to its minimum")
  func converges() {
    let x = Tensor([5, -3], requiresGrad: true)
    let target = Tensor([1, 2])
    let opt = Adam([x], learningRate: 0.1)
    for _ in 0..<300 {
      opt.zeroGrad()
      Loss.mse(x, target).backward()
      opt.step()
    }
    #expect(allClose(x.scalars, [1, 2], atol: 1e-2))
  }
}
