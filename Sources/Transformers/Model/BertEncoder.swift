import QATKit

/// The stack of encoder layers (`encoder`, children `layer.0`, `layer.1`, ...).
public final class BertEncoder: Module {
  /// The layers, in order.
  public let layers: [BertLayer]

  /// Creates `config.numHiddenLayers` layers sharing `maskContext`.
  public init(config: BertConfig, maskContext: AttentionMaskContext, initialization: BertInitialization = .random(seed: 0)) {
    layers = (0..<config.numHiddenLayers).map {
      BertLayer(config: config, maskContext: maskContext, initialization: initialization.child(UInt64($0) &* 1000))
    }
  }

  /// `layer.N` for each layer.
  public override func children() -> [(String, Module)] {
    layers.enumerated().map { ("layer.\($0.offset)", $0.element as Module) }
  }

  /// `[B, T, D]` through every layer.
  public override func forward(_ x: Tensor) -> Tensor {
    layers.reduce(x) { h, layer in layer(h) }
  }
}
