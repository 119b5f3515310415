/// Applies its layers in order. Children are named `0`, `1`, ... as in PyTorch's
/// `nn.Sequential`, or by the names given (`nn.Sequential(OrderedDict(...))`), so state-dict
/// keys match the PyTorch model's.
public final class Sequential: Module {
  /// The layers, in order.
  public private(set) var layers: [Module]
  /// The child names, one per layer.
  public let names: [String]

  /// Creates the container; children are named by position.
  public init(_ layers: [Module]) {
    self.layers = layers
    names = layers.indices.map(String.init)
  }

  /// Creates the container with named children (names must be distinct and contain no `.`).
  public init(named: [(String, Module)]) {
    precondition(Set(named.map(\.0)).count == named.count && !named.contains { $0.0.isEmpty || $0.0.contains(".") },
      "Sequential: child names must be distinct, non-empty and without '.'")
    layers = named.map(\.1)
    names = named.map(\.0)
  }

  /// Children by name.
  public override func children() -> [(String, Module)] { Array(zip(names, layers)) }

  /// Sequential holds no parameters of its own.
  public override func ownParameters() -> [(String, Tensor)] { [] }

  /// Replaces the layer called `name`.
  public override func replaceChild(named name: String, with module: Module) throws {
    guard let i = names.firstIndex(of: name) else {
      throw ModuleError.noSuchPath(name, available: names)
    }
    layers[i] = module
  }

  /// Runs the layers in order.
  public override func forward(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }

  /// A new container of the layers' own empty copies, with the same names.
  public override func emptyCopy() throws -> Module {
    Sequential(named: try zip(names, layers).map { ($0, try $1.emptyCopy()) })
  }
}
