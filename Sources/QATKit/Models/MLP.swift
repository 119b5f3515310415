/// A multilayer perceptron `fc1 → ReLU → fc2 → ReLU → … → fcN` with PyTorch names
/// (`fc1.weight`, ...), matching `nn.Sequential`-free PyTorch MLPs such as the digits model.
public final class MLP: Module {
  /// The linear layers `fc1 … fcN`.
  public let layers: [Linear]

  /// Creates an MLP with layer sizes, e.g. `[64, 256, 256, 10]`; layer `i` is seeded with
  /// `seed + i`.
  public init(_ sizes: [Int], seed: UInt64 = 0) {
    precondition(sizes.count >= 2, "MLP needs at least input and output sizes")
    layers = (0..<(sizes.count - 1)).map { Linear(sizes[$0], sizes[$0 + 1], seed: seed &+ UInt64($0)) }
  }

  /// Children `fc1`, `fc2`, ...
  public override func children() -> [(String, Module)] {
    layers.enumerated().map { ("fc\($0.offset + 1)", $0.element) }
  }

  /// No parameters of its own.
  public override func ownParameters() -> [(String, Tensor)] { [] }

  /// `MLP` layers are fixed at creation: use ``Module/setQuantizer(_:slot:)`` on them instead.
  public override func replaceChild(named name: String, with module: Module) throws {
    throw ModuleError.notReplaceable(name)
  }

  /// A new MLP with the same sizes.
  public override func emptyCopy() throws -> Module { MLP([layers[0].inFeatures] + layers.map(\.outFeatures)) }

  /// Logits for `x [N, sizes[0]]`.
  public override func forward(_ x: Tensor) -> Tensor {
    var h = x
    for (i, layer) in layers.enumerated() {
      h = layer(h)
      if i < layers.count - 1 { h = h.relu() }
    }
    return h
  }
}
