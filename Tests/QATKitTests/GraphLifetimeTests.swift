import QATKit
import Testing

/// Recorded graphs must not keep themselves alive: a training loop would otherwise leak every
/// step's activations.
@Suite struct GraphLifetimeTests {
  @Test(arguments: ["exp", "sqrt", "tanh", "sigmoid", "softmax", "logSoftmax", "relu", "matmul", "crossEntropy"])
  func resultsAreFreedWithoutBackward(_ op: String) {
    weak var weakOut: Tensor?
    do {
      let x = Tensor([0.5, 1, 2, 3], requiresGrad: true)
      let y = apply(op, x)
      weakOut = y
      #expect(weakOut != nil)
    }
    #expect(weakOut == nil, "\(op): its output is kept alive by its own backward closure")
  }

  @Test func backwardReleasesTheGraph() throws {
    weak var weakHidden: Tensor?
    let w = Tensor([1, 2, 3, 4], requiresGrad: true)
    do {
      let h = (w * 2).exp()
      weakHidden = h
      let loss = h.sum()
      loss.backward()
      #expect(loss.isLeaf, "backward frees the graph unless retainGraph is set")
    }
    #expect(weakHidden == nil)
    #expect(w.grad != nil)
    // retainGraph keeps it for a second pass.
    w.zeroGrad()
    let loss = (w * w).sum()
    loss.backward(retainGraph: true)
    loss.backward()
    #expect(w.grad!.scalars == [4, 8, 12, 16])  // 2w from each of the two passes
  }

  private func apply(_ op: String, _ x: Tensor) -> Tensor {
    switch op {
    case "exp": x.exp()
    case "sqrt": x.sqrt()
    case "tanh": x.tanh()
    case "sigmoid": x.sigmoid()
    case "softmax": x.softmax()
    case "logSoftmax": x.logSoftmax()
    case "relu": x.relu()
    case "matmul": (try! x.reshaped([2, 2])).matmul(try! x.reshaped([2, 2]))
    default: Loss.crossEntropy(try! x.reshaped([1, 4]), [2])
    }
  }
}
