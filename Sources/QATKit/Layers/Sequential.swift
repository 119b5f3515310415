/// Applies its layers in order; children are named `0`, `1`, ... as in PyTorch.
public final class Sequential: Module {
  /// The layers, in order.
  public private(set) var layers: [Module]

  /// Creates the container.
  public init(_ layers: [Module]) { self.layers = layers }

  /// Children by index.
  public override func children() -> [(String, Module)] {
    layers.enumerated().map { (String($0.offset), $0.element) }
  }

  /// Sequential holds no parameters of its own.
  public override func ownParameters() -> [(String, Tensor)] { [] }

  /// Replaces layer `name` (an index).
  public override func replaceChild(named name: String, with module: Module) throws {
    guard let i = Int(name), layers.indices.contains(i) else {
      throw ModuleError.noSuchPath(name, available: layers.indices.map(String.init))
    }
    layers[i] = module
  }

  /// Runs the layers in order.
  public override func forward(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}
