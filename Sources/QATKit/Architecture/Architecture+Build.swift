public import Foundation

extension Architecture {
  /// Builds the model: a ``Sequential`` of the layers with their names, initialized as
  /// PyTorch initializes them (seeded; layer `i` of a list uses `seed + i`).
  ///
  /// - Parameter seed: Seeds the initialization.
  /// - Throws: ``ConfigError`` when ``inputShape`` is set and a layer does not fit the shape
  ///   it receives (see ``outputShape(forSample:)``), or the layers would hold more than
  ///   ``maxParameters`` parameters.
  public func build(seed: UInt64 = 0) throws -> Sequential {
    try checkSize()
    if let inputShape { _ = try outputShape(forSample: inputShape) }
    return Self.sequential(layers, seed: seed)
  }

  /// Builds the model and loads a safetensors state dict (e.g. PyTorch's
  /// `model.state_dict()` saved with `safetensors.torch.save_file`) strictly by name.
  ///
  /// - Parameters:
  ///   - weights: The file.
  ///   - renaming: Prefix rules applied to the file's names first (`module.` → ``).
  /// - Throws: ``ConfigError`` for shapes that do not fit,
  ///   ``ModuleError/stateMismatch(missing:unexpected:misShaped:)`` listing every missing,
  ///   unexpected and mis-shaped name, ``SafeTensorsError`` for a damaged file.
  public func load(weights: URL, renaming: KeyRenaming = KeyRenaming(), seed: UInt64 = 0) throws -> Sequential {
    let model = try build(seed: seed)
    try model.loadSafeTensors(from: weights, strict: true, renaming: renaming)
    return model
  }

  private static func sequential(_ nodes: [Node], seed: UInt64) -> Sequential {
    Sequential(named: nodes.enumerated().map { i, node in
      (node.name ?? String(i), module(node.layer, seed: seed &+ UInt64(i) &* 101))
    })
  }

  private static func module(_ layer: Layer, seed: UInt64) -> Module {
    switch layer {
    case .linear(let i, let o, let b): Linear(i, o, bias: b, seed: seed)
    case .conv2d(let i, let o, let k, let s, let p, let b): Conv2d(i, o, kernel: k, stride: s, padding: p, bias: b, seed: seed)
    case .maxPool2d(let k, let s): MaxPool2d(kernel: k, stride: s)
    case .avgPool2d(let k, let s): AvgPool2d(kernel: k, stride: s)
    case .flatten(let s): Flatten(startDim: s)
    case .reshape(let shape): Reshape(shape)
    case .relu: ReLU()
    case .gelu: GELU()
    case .silu: SiLU()
    case .tanh: Tanh()
    case .sigmoid: Sigmoid()
    case .layerNorm(let d, let e): LayerNorm(d, eps: e)
    case .batchNorm(let c, let e, _): BatchNorm(c, eps: e)
    case .dropout(let p): Dropout(p: p, seed: seed)
    case .embedding(let v, let d): Embedding(v, d, seed: seed)
    case .multiHeadAttention(let d, let h): MultiHeadAttention(dim: d, heads: h, seed: seed)
    case .transformerEncoderBlock(let d, let h, let hidden): TransformerEncoderBlock(dim: d, heads: h, hidden: hidden, seed: seed)
    case .mean(let a): Mean(axis: a)
    case .sequential(let inner): sequential(inner, seed: seed &+ 7)
    case .residual(let inner): Residual(sequential(inner, seed: seed &+ 7))
    }
  }
}
