import QATTestSupport
import Testing

@testable import QATKit

/// A model with every kind of child: a replaceable `@Child`, a plain property and a Sequential.
private final class Net: Module {
  @Child var head = Linear(3, 2, seed: 1)
  let plain = Linear(2, 2, seed: 2)
  let seq = Sequential([Linear(2, 3, seed: 3), ReLU()])
  override func forward(_ x: Tensor) -> Tensor { head(seq(plain(x))) }
}

/// A `Linear` subclass, accepted wherever a `Linear` child is declared.
private final class TaggedLinear: Linear {}

@Suite("ModuleTests: names and paths")
struct ModuleNamingTests {
  @Test("MLP parameters use PyTorch names fc1.weight ...")
  func mlpNames() {
    let mlp = MLP([4, 5, 3])
    #expect(mlp.namedParameters().map(\.0) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
    #expect(mlp.namedParameters().map(\.1.shape) == [[5, 4], [5], [3, 5], [3]])
    #expect(mlp.namedModules().map(\.0) == ["", "fc1", "fc2"])
    #expect(mlp.stateDict().map(\.0) == mlp.namedParameters().map(\.0))
  }

  @Test("SmallCNN names")
  func cnnNames() {
    #expect(SmallCNN().namedParameters().map(\.0) == [
      "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias",
    ])
  }

  @Test("DigitsTransformer names, nested through @Child wrappers")
  func transformerNames() {
    let names = DigitsTransformer(dim: 8, heads: 2).namedParameters().map(\.0)
    let linear = { (p: String) in ["\(p).weight", "\(p).bias"] }
    let expected =
      ["position"] + linear("embed") + linear("block.norm1") + linear("block.attention.query")
      + linear("block.attention.key") + linear("block.attention.value") + linear("block.attention.out")
      + linear("block.norm2") + linear("block.fc1") + linear("block.fc2") + linear("norm") + linear("head")
    #expect(names == expected)
    #expect(names.contains("block.attention.query.weight"))
  }

  @Test("Sequential children are named 0, 1, ...; layers without parameters keep their index")
  func sequentialNames() throws {
    let s = Sequential([Linear(2, 3), ReLU(), Linear(3, 1)])
    #expect(s.namedParameters().map(\.0) == ["0.weight", "0.bias", "2.weight", "2.bias"])
    #expect(s.namedModules().map(\.0) == ["", "0", "1", "2"])
    #expect(try s.module(at: "1") is ReLU)
    let net = Net()
    #expect(net.namedModules().map(\.0) == ["", "head", "plain", "seq", "seq.0", "seq.1"])
  }

  @Test("module(at:) finds modules and lists paths on a bad one")
  func lookup() throws {
    let model = DigitsTransformer(dim: 8, heads: 2)
    #expect(try model.module(at: "block.attention.key") is Linear)
    #expect(try model.module(at: "") === model)
    do {
      _ = try model.module(at: "block.atention.key")
      Issue.record("expected an error")
    } catch let ModuleError.noSuchPath(path, available) {
      #expect(path == "block.atention.key")
      #expect(available.contains("block.attention.key"))
      #expect(!available.contains(""))
      let message = "\(ModuleError.noSuchPath(path, available: available))"
      #expect(message.contains("block.attention.key"))
    }
  }
}

@Suite("ModuleTests: replacement")
struct ModuleReplacementTests {
  @Test("replace an @Child with the declared type or a subclass")
  func replaceChild() throws {
    let net = Net()
    let replacement = TaggedLinear(3, 2, seed: 9)
    try net.replaceModule(at: "head", with: replacement)
    #expect(net.head === replacement)
    #expect(try net.module(at: "head") === replacement)
    #expect(net.namedParameters().contains { $0.1 === replacement.weight })
    let cnn = SmallCNN()
    try cnn.replaceModule(at: "fc", with: Linear(64, 10, seed: 5))
    #expect(cnn(Tensor.zeros([2, 64])).shape == [2, 10])
  }

  @Test("a replacement of the wrong type throws typeMismatch and changes nothing")
  func wrongType() throws {
    let net = Net()
    let before = net.head
    #expect(throws: ModuleError.self) { try net.replaceModule(at: "head", with: ReLU()) }
    do {
      try SmallCNN().replaceModule(at: "conv1", with: Linear(2, 2))
      Issue.record("expected typeMismatch")
    } catch ModuleError.typeMismatch(let message) {
      #expect(message.contains("Linear") && message.contains("Conv2d"))
    }
    #expect(net.head === before)
  }

  @Test("Sequential entries are replaceable by index, nested paths too")
  func sequential() throws {
    let net = Net()
    let gelu = GELU()
    try net.replaceModule(at: "seq.1", with: gelu)
    #expect(try net.module(at: "seq.1") === gelu)
    #expect(throws: ModuleError.self) { try net.replaceModule(at: "seq.5", with: gelu) }
    let block = TransformerEncoderBlock(dim: 4, heads: 2, hidden: 8)
    let q = Linear(4, 4, seed: 77)
    try block.replaceModule(at: "attention.query", with: q)
    #expect(block.attention.query === q)
  }

  @Test("plain properties are not replaceable; bad paths and the root throw")
  func notReplaceable() throws {
    let net = Net()
    #expect(throws: ModuleError.notReplaceable("plain")) {
      try net.replaceModule(at: "plain", with: Linear(2, 2))
    }
    #expect(throws: ModuleError.notReplaceable("fc1")) {
      try MLP([2, 2, 2]).replaceModule(at: "fc1", with: Linear(2, 2))
    }
    #expect(throws: ModuleError.self) { try net.replaceModule(at: "missing", with: Linear(2, 2)) }
    #expect(throws: ModuleError.self) { try net.replaceModule(at: "seq.0.weight", with: Linear(2, 2)) }
    #expect(throws: ModuleError.self) { try net.replaceModule(at: "", with: Linear(2, 2)) }
  }
}

@Suite("ModuleTests: modes, freezing, state, hooks")
struct ModuleStateTests {
  @Test("train and eval propagate; Dropout drops and rescales only in training")
  func trainEval() {
    let dropout = Dropout(p: 0.5, seed: 1)
    let model = Sequential([Linear(4, 4), dropout])
    #expect(model.namedModules().allSatisfy { $0.1.training })
    model.eval()
    #expect(model.namedModules().allSatisfy { !$0.1.training })
    let x = Tensor.ones([1000])
    #expect(dropout(x).scalars == x.scalars)
    model.train()
    #expect(dropout.training)
    let y = dropout(x).scalars
    let zeros = y.filter { $0 == 0 }.count
    #expect(y.allSatisfy { $0 == 0 || $0 == 2 })
    #expect(zeros > 400 && zeros < 600)
    let xg = Tensor.ones([8], requiresGrad: true)
    let yg = dropout(xg)
    yg.sum().backward()
    #expect(xg.grad?.scalars == yg.scalars)  // gradient uses the same mask
  }

  @Test("freeze and unfreeze change trainableParameters")
  func freeze() throws {
    let mlp = MLP([4, 5, 3])
    #expect(mlp.trainableParameters().count == 4)
    try mlp.module(at: "fc1").freeze()
    #expect(mlp.trainableParameters().count == 2)
    #expect(mlp.parameters().count == 4)
    #expect(!mlp.layers[0].weight.requiresGrad)
    let loss = mlp(Tensor.ones([2, 4])).sum()
    loss.backward()
    #expect(mlp.layers[0].weight.grad == nil)
    #expect(mlp.layers[1].weight.grad != nil)
    mlp.unfreeze()
    #expect(mlp.trainableParameters().count == 4)
  }

  @Test("loadStateDict copies values in place")
  func loadValid() throws {
    let a = MLP([4, 5, 3], seed: 1), b = MLP([4, 5, 3], seed: 2)
    let weight = a.layers[0].weight
    #expect(a.stateDict().map(\.1.scalars) != b.stateDict().map(\.1.scalars))
    try a.loadStateDict(Dictionary(uniqueKeysWithValues: b.stateDict()))
    #expect(a.stateDict().map(\.1.scalars) == b.stateDict().map(\.1.scalars))
    #expect(a.layers[0].weight === weight)  // same object: optimizers keep working
    b.layers[0].weight.storage[0] += 1
    #expect(a.layers[0].weight.scalars[0] != b.layers[0].weight.scalars[0])  // no shared storage
  }

  @Test("strict loading lists missing, unexpected and mis-shaped keys in one error and changes nothing")
  func loadStrictErrors() throws {
    let model = MLP([4, 5, 3], seed: 1)
    let before = model.stateDict().map(\.1.scalars)
    var state = Dictionary(uniqueKeysWithValues: MLP([4, 5, 3], seed: 2).stateDict())
    state["fc2.bias"] = nil
    state["extra.weight"] = Tensor.zeros([1])
    state["fc1.weight"] = Tensor.zeros([4, 5])
    do {
      try model.loadStateDict(state)
      Issue.record("expected stateMismatch")
    } catch let ModuleError.stateMismatch(missing, unexpected, misShaped) {
      #expect(missing == ["fc2.bias"])
      #expect(unexpected == ["extra.weight"])
      #expect(misShaped.count == 1 && misShaped[0].hasPrefix("fc1.weight"))
      let text = "\(ModuleError.stateMismatch(missing: missing, unexpected: unexpected, misShaped: misShaped))"
      #expect(text.contains("fc2.bias") && text.contains("extra.weight") && text.contains("[5, 4]"))
    }
    #expect(model.stateDict().map(\.1.scalars) == before)
  }

  @Test("non-strict loading ignores missing and unexpected keys but rejects mis-shaped ones")
  func loadNonStrict() throws {
    let model = MLP([4, 5, 3], seed: 1)
    let source = MLP([4, 5, 3], seed: 2)
    let oldBias = model.layers[1].bias!.scalars
    var state = Dictionary(uniqueKeysWithValues: source.stateDict())
    state["fc2.bias"] = nil
    state["unused"] = Tensor.zeros([7])
    try model.loadStateDict(state, strict: false)
    #expect(model.layers[0].weight.scalars == source.layers[0].weight.scalars)
    #expect(model.layers[1].bias!.scalars == oldBias)
    let before = model.stateDict().map(\.1.scalars)
    state["fc1.bias"] = Tensor.zeros([6])
    state["fc1.weight"] = Tensor.zeros([5, 4])
    #expect(throws: ModuleError.stateMismatch(missing: [], unexpected: [], misShaped: ["fc1.bias: model [5], state [6]"])) {
      try model.loadStateDict(state, strict: false)
    }
    #expect(model.stateDict().map(\.1.scalars) == before)
  }

  @Test("output hooks see every call and can be removed")
  func hooks() throws {
    let mlp = MLP([4, 5, 3])
    let fc1 = try mlp.module(at: "fc1")
    nonisolated(unsafe) var seen: [[Int]] = []
    let token = fc1.addOutputHook { seen.append($0.shape) }
    nonisolated(unsafe) var calls = 0
    let other = fc1.addOutputHook { _ in calls += 1 }
    _ = mlp(Tensor.ones([2, 4]))
    _ = mlp(Tensor.ones([3, 4]))
    #expect(seen == [[2, 5], [3, 5]])
    fc1.removeOutputHook(token)
    _ = mlp(Tensor.ones([1, 4]))
    #expect(seen.count == 2)
    #expect(calls == 3)
    fc1.removeOutputHook(other)
    _ = mlp(Tensor.ones([1, 4]))
    #expect(calls == 3)
  }
}
