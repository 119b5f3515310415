public import Foundation

/// A model described as data: a list of layers (PyTorch's `nn.Sequential`, with optional
/// child names) that may nest `Sequential` and `Residual` blocks, read from JSON and built into
/// a ``Sequential`` whose state-dict names are PyTorch's (`0.weight` for positions,
/// `backbone.0.weight` / `classifier.weight` for named children).
///
/// ```json
/// {"input_shape": [1, 8, 8],
///  "layers": [
///    {"type": "Conv2d", "in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1},
///    {"type": "ReLU"},
///    {"type": "AvgPool2d", "kernel_size": 2},
///    {"type": "Flatten"},
///    {"name": "classifier", "type": "Linear", "in_features": 128, "out_features": 10}]}
/// ```
///
/// Layer types and their keys use PyTorch's names (`nn.` prefixes are accepted):
///
/// | type | keys (defaults) |
/// |---|---|
/// | `Linear` | `in_features`, `out_features`, `bias` (true) |
/// | `Conv2d` | `in_channels`, `out_channels`, `kernel_size`, `stride` (1), `padding` (0), `bias` (true) |
/// | `MaxPool2d`, `AvgPool2d` | `kernel_size`, `stride` (= kernel_size) |
/// | `Flatten` | `start_dim` (1) |
/// | `Reshape` | `shape` (per sample, one `-1` allowed) |
/// | `ReLU`, `GELU`, `SiLU`, `Tanh`, `Sigmoid` | — |
/// | `LayerNorm` | `normalized_shape`, `eps` (1e-5) |
/// | `BatchNorm1d`, `BatchNorm2d` | `num_features`, `eps` (1e-5); evaluation statistics |
/// | `Dropout` | `p` (0.5) |
/// | `Embedding` | `num_embeddings`, `embedding_dim` |
/// | `MultiHeadAttention` | `embed_dim`, `num_heads` (children `query`, `key`, `value`, `out`) |
/// | `TransformerEncoderBlock` | `dim`, `heads`, `hidden` |
/// | `Mean` | `dim` (an axis of the batched tensor, e.g. 1 = tokens) |
/// | `Sequential` | `layers` |
/// | `Residual` | `layers` (`x + layers(x)`; children under `body.`) |
///
/// Every node may have a `"name"` (the child's state-dict name; default its position).
/// Decoding is strict: an unknown type or key names its path and the nearest valid one. With
/// an input shape, ``outputShape(forSample:)`` checks every layer against the shapes it will
/// see before anything runs, so a wrong size is a thrown error instead of a stop inside
/// `forward`. Load PyTorch weights with ``load(weights:renaming:seed:)``, strictly by name.
public struct Architecture: Sendable, Equatable {
  /// One layer and its configuration.
  public indirect enum Layer: Sendable, Equatable {
    /// `nn.Linear`.
    case linear(inFeatures: Int, outFeatures: Int, bias: Bool)
    /// `nn.Conv2d` (square kernel, equal stride and padding on both axes).
    case conv2d(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)
    /// `nn.MaxPool2d`.
    case maxPool2d(kernel: Int, stride: Int)
    /// `nn.AvgPool2d`.
    case avgPool2d(kernel: Int, stride: Int)
    /// `nn.Flatten`.
    case flatten(startDim: Int)
    /// A per-sample reshape.
    case reshape([Int])
    /// `nn.ReLU`.
    case relu
    /// `nn.GELU` (exact).
    case gelu
    /// `nn.SiLU`.
    case silu
    /// `nn.Tanh`.
    case tanh
    /// `nn.Sigmoid`.
    case sigmoid
    /// `nn.LayerNorm` over the last dimension.
    case layerNorm(dim: Int, eps: Float)
    /// `nn.BatchNorm1d` / `nn.BatchNorm2d` with running statistics; `spatial` is 2-D.
    case batchNorm(channels: Int, eps: Float, spatial: Bool)
    /// `nn.Dropout`.
    case dropout(p: Float)
    /// `nn.Embedding`.
    case embedding(vocab: Int, dim: Int)
    /// ``MultiHeadAttention``.
    case multiHeadAttention(dim: Int, heads: Int)
    /// ``TransformerEncoderBlock``.
    case transformerEncoderBlock(dim: Int, heads: Int, hidden: Int)
    /// The mean over an axis of the batched tensor.
    case mean(axis: Int)
    /// Nested layers.
    case sequential([Node])
    /// `x + layers(x)`.
    case residual([Node])
  }

  /// A layer with its optional child name.
  public struct Node: Sendable, Equatable {
    /// The child name in the state dict; `nil` uses the position.
    public var name: String?
    /// The layer.
    public var layer: Layer

    /// Creates a node.
    public init(_ layer: Layer, name: String? = nil) {
      self.layer = layer
      self.name = name
    }
  }

  /// The shape of one input sample (e.g. `[1, 8, 8]`), if declared.
  public var inputShape: [Int]?
  /// The top-level layers.
  public var layers: [Node]

  /// Creates an architecture.
  public init(layers: [Node], inputShape: [Int]? = nil) {
    self.layers = layers
    self.inputShape = inputShape
  }

  /// An MLP `fc1 → ReLU → fc2 → … → fcN` with children named `fc1`, `relu1`, `fc2`, ... for
  /// layer sizes such as `[4, 16, 16, 3]`.
  public static func mlp(_ sizes: [Int]) -> Architecture {
    var nodes: [Node] = []
    for i in 0..<(sizes.count - 1) {
      nodes.append(Node(.linear(inFeatures: sizes[i], outFeatures: sizes[i + 1], bias: true), name: "fc\(i + 1)"))
      if i < sizes.count - 2 { nodes.append(Node(.relu, name: "relu\(i + 1)")) }
    }
    return Architecture(layers: nodes, inputShape: [sizes[0]])
  }

  /// Reads an architecture file.
  ///
  /// - Throws: ``DataError/resource(_:)`` when the file cannot be read, ``ConfigError`` for
  ///   invalid JSON or content.
  public init(contentsOf url: URL) throws {
    let text: String
    do { text = try String(contentsOf: url, encoding: .utf8) } catch {
      throw DataError.resource("cannot read architecture \(url.path): \(error.localizedDescription)")
    }
    try self.init(json: JSONValue(parsing: text))
  }
}
