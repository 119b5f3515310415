extension Architecture {
  /// Every layer type an architecture file may use, in PyTorch's spelling.
  public static let layerTypes = [
    "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Reshape", "ReLU", "GELU", "SiLU", "Tanh", "Sigmoid",
    "LayerNorm", "BatchNorm1d", "BatchNorm2d", "Dropout", "Embedding", "MultiHeadAttention", "TransformerEncoderBlock",
    "Mean", "Sequential", "Residual",
  ]

  private static let context = "architecture"

  /// The keys of each layer type (besides `name` and `type`).
  private static let keys: [String: [String]] = [
    "Linear": ["in_features", "out_features", "bias"],
    "Conv2d": ["in_channels", "out_channels", "kernel_size", "stride", "padding", "bias"],
    "MaxPool2d": ["kernel_size", "stride", "padding"], "AvgPool2d": ["kernel_size", "stride", "padding"],
    "Flatten": ["start_dim", "end_dim"], "Reshape": ["shape"],
    "ReLU": [], "GELU": ["approximate"], "SiLU": [], "Tanh": [], "Sigmoid": [],
    "LayerNorm": ["normalized_shape", "eps", "elementwise_affine"],
    "BatchNorm1d": ["num_features", "eps", "momentum", "affine", "track_running_stats"],
    "BatchNorm2d": ["num_features", "eps", "momentum", "affine", "track_running_stats"],
    "Dropout": ["p"], "Embedding": ["num_embeddings", "embedding_dim"],
    "MultiHeadAttention": ["embed_dim", "num_heads"], "TransformerEncoderBlock": ["dim", "heads", "hidden"],
    "Mean": ["dim"], "Sequential": ["layers"], "Residual": ["layers"],
  ]

  /// Decodes `{"input_shape": [...], "layers": [...]}` (or a bare array of layers) strictly.
  ///
  /// - Throws: ``ConfigError`` naming the key path: unknown types and keys (with the nearest
  ///   valid one), missing or mistyped values, sizes that are not positive, duplicate names.
  public init(json: JSONValue) throws {
    if case .array = json {
      try self.init(json: .object(["layers": json]))
      return
    }
    var o = try StrictObject(json, context: Self.context)
    try o.rejectUnknown(known: ["input_shape", "layers"])
    let shape = try o.ints("input_shape")
    if let shape, shape.isEmpty || shape.contains(where: { $0 < 1 }) {
      throw ConfigError.invalidValue(Self.context, path: "input_shape", "dimensions must be positive, got \(shape)")
    }
    let list = try o.required(o.array("layers"), "layers")
    let nodes = try Self.nodes(list, path: "layers")
    try o.finish(known: ["input_shape", "layers"])
    self.init(layers: nodes, inputShape: shape)
  }

  private static func nodes(_ list: [JSONValue], path: String) throws -> [Node] {
    guard !list.isEmpty else { throw ConfigError.invalidValue(context, path: path, "needs at least one layer") }
    let nodes = try list.enumerated().map { try node($0.element, path: "\(path)[\($0.offset)]") }
    var seen = Set<String>()
    for (i, n) in nodes.enumerated() {
      let name = n.name ?? String(i)
      guard seen.insert(name).inserted else {
        throw ConfigError.invalidValue(context, path: "\(path)[\(i)].name", "the name '\(name)' is used twice in this list")
      }
    }
    return nodes
  }

  private static func node(_ json: JSONValue, path: String) throws -> Node {
    var o = try StrictObject(json, context: context, path: path)
    let name = try o.string("name")
    if let name, name.isEmpty || name.contains(".") {
      throw ConfigError.invalidValue(context, path: o.keyPath("name"), "a child name must be non-empty and contain no '.', got '\(name)'")
    }
    var type = try o.required(o.string("type"), "type")
    if type.hasPrefix("nn.") { type.removeFirst(3) }
    func positive(_ key: String, _ value: Int?) throws -> Int {
      let v = try o.required(value, key)
      guard v >= 1 else { throw ConfigError.invalidValue(context, path: o.keyPath(key), "must be a positive integer, got \(v)") }
      return v
    }
    func eps() throws -> Float {
      let e = try o.double("eps") ?? 1e-5
      guard e > 0 else { throw ConfigError.invalidValue(context, path: o.keyPath("eps"), "must be > 0, got \(e)") }
      return Float(e)
    }
    let known = ["name", "type"] + (Self.keys[type] ?? [])
    if Self.keys[type] != nil { try o.rejectUnknown(known: known) }
    let layer: Layer
    switch type {
    case "Linear":
      layer = .linear(
        inFeatures: try positive("in_features", o.int("in_features")),
        outFeatures: try positive("out_features", o.int("out_features")), bias: try o.bool("bias") ?? true)
    case "Conv2d":
      let padding = try o.int("padding") ?? 0
      guard padding >= 0 else { throw ConfigError.invalidValue(context, path: o.keyPath("padding"), "must be >= 0, got \(padding)") }
      layer = .conv2d(
        inChannels: try positive("in_channels", o.int("in_channels")),
        outChannels: try positive("out_channels", o.int("out_channels")),
        kernel: try positive("kernel_size", o.int("kernel_size")), stride: try positive("stride", o.int("stride") ?? 1),
        padding: padding, bias: try o.bool("bias") ?? true)
    case "MaxPool2d", "AvgPool2d":
      let k = try positive("kernel_size", o.int("kernel_size"))
      let s = try positive("stride", o.int("stride") ?? k)
      if let p = try o.int("padding"), p != 0 {
        throw ConfigError.invalidValue(context, path: o.keyPath("padding"), "pooling with padding is not supported; use 0")
      }
      layer = type == "MaxPool2d" ? .maxPool2d(kernel: k, stride: s) : .avgPool2d(kernel: k, stride: s)
    case "Flatten":
      let start = try o.int("start_dim") ?? 1
      guard start >= 1 else {
        throw ConfigError.invalidValue(context, path: o.keyPath("start_dim"), "must be >= 1 (dimension 0 is the batch), got \(start)")
      }
      if let end = try o.int("end_dim"), end != -1 {
        throw ConfigError.invalidValue(context, path: o.keyPath("end_dim"), "only -1 (flatten to the end) is supported")
      }
      layer = .flatten(startDim: start)
    case "Reshape":
      let shape = try o.required(o.ints("shape"), "shape")
      guard !shape.isEmpty, shape.allSatisfy({ $0 >= 1 || $0 == -1 }), shape.filter({ $0 == -1 }).count <= 1 else {
        throw ConfigError.invalidValue(context, path: o.keyPath("shape"), "needs positive dimensions and at most one -1, got \(shape)")
      }
      layer = .reshape(shape)
    case "ReLU": layer = .relu
    case "GELU":
      if let a = try o.string("approximate"), a != "none" {
        throw ConfigError.invalidValue(context, path: o.keyPath("approximate"), "only the exact GELU ('none') is supported, got '\(a)'")
      }
      layer = .gelu
    case "SiLU": layer = .silu
    case "Tanh": layer = .tanh
    case "Sigmoid": layer = .sigmoid
    case "LayerNorm":
      let dim: Int
      if case .array = o.value("normalized_shape") {
        let dims = try o.required(o.ints("normalized_shape"), "normalized_shape")
        guard dims.count == 1 else {
          throw ConfigError.invalidValue(context, path: o.keyPath("normalized_shape"), "only normalization over the last dimension is supported")
        }
        dim = try positive("normalized_shape", dims[0])
      } else {
        dim = try positive("normalized_shape", o.int("normalized_shape"))
      }
      if try o.bool("elementwise_affine") == false {
        throw ConfigError.invalidValue(context, path: o.keyPath("elementwise_affine"), "only affine LayerNorm (true) is supported")
      }
      layer = .layerNorm(dim: dim, eps: try eps())
    case "BatchNorm1d", "BatchNorm2d":
      _ = try o.double("momentum")  // used by PyTorch's training updates only
      for key in ["affine", "track_running_stats"] where try o.bool(key) == false {
        throw ConfigError.invalidValue(context, path: o.keyPath(key), "only \(key) = true is supported")
      }
      layer = .batchNorm(channels: try positive("num_features", o.int("num_features")), eps: try eps(), spatial: type == "BatchNorm2d")
    case "Dropout":
      let p = try o.double("p") ?? 0.5
      guard p >= 0, p < 1 else { throw ConfigError.invalidValue(context, path: o.keyPath("p"), "must be in [0, 1), got \(p)") }
      layer = .dropout(p: Float(p))
    case "Embedding":
      layer = .embedding(
        vocab: try positive("num_embeddings", o.int("num_embeddings")), dim: try positive("embedding_dim", o.int("embedding_dim")))
    case "MultiHeadAttention":
      let d = try positive("embed_dim", o.int("embed_dim")), h = try positive("num_heads", o.int("num_heads"))
      guard d % h == 0 else { throw ConfigError.invalidValue(context, path: o.keyPath("num_heads"), "embed_dim \(d) is not divisible by \(h) heads") }
      layer = .multiHeadAttention(dim: d, heads: h)
    case "TransformerEncoderBlock":
      let d = try positive("dim", o.int("dim")), h = try positive("heads", o.int("heads"))
      guard d % h == 0 else { throw ConfigError.invalidValue(context, path: o.keyPath("heads"), "dim \(d) is not divisible by \(h) heads") }
      layer = .transformerEncoderBlock(dim: d, heads: h, hidden: try positive("hidden", o.int("hidden")))
    case "Mean":
      let axis = try o.required(o.int("dim"), "dim")
      guard axis != 0 else { throw ConfigError.invalidValue(context, path: o.keyPath("dim"), "dimension 0 is the batch; average over 1 or later") }
      layer = .mean(axis: axis)
    case "Sequential", "Residual":
      let inner = try nodes(try o.required(o.array("layers"), "layers"), path: o.keyPath("layers"))
      layer = type == "Sequential" ? .sequential(inner) : .residual(inner)
    default:
      let near = ParsingHelp.nearest(type, in: layerTypes)
      throw ConfigError.invalidValue(
        context, path: o.keyPath("type"),
        "unknown layer type '\(type)'\(near.map { " (did you mean '\($0)'?)" } ?? ""); types: \(layerTypes.joined(separator: ", "))")
    }
    try o.finish(known: known.sorted())
    return Node(layer, name: name)
  }

  /// The architecture as JSON (every key written), readable by ``init(json:)``.
  public var json: JSONValue {
    var o: [String: JSONValue] = ["layers": .array(layers.map(Self.encode))]
    if let inputShape { o["input_shape"] = .array(inputShape.map { .number(Double($0)) }) }
    return .object(o)
  }

  private static func encode(_ node: Node) -> JSONValue {
    func n(_ v: Int) -> JSONValue { .number(Double(v)) }
    var o: [String: JSONValue]
    switch node.layer {
    case .linear(let i, let out, let b):
      o = ["type": .string("Linear"), "in_features": n(i), "out_features": n(out), "bias": .bool(b)]
    case .conv2d(let i, let out, let k, let s, let p, let b):
      o = ["type": .string("Conv2d"), "in_channels": n(i), "out_channels": n(out), "kernel_size": n(k), "stride": n(s),
           "padding": n(p), "bias": .bool(b)]
    case .maxPool2d(let k, let s): o = ["type": .string("MaxPool2d"), "kernel_size": n(k), "stride": n(s)]
    case .avgPool2d(let k, let s): o = ["type": .string("AvgPool2d"), "kernel_size": n(k), "stride": n(s)]
    case .flatten(let s): o = ["type": .string("Flatten"), "start_dim": n(s)]
    case .reshape(let shape): o = ["type": .string("Reshape"), "shape": .array(shape.map(n))]
    case .relu: o = ["type": .string("ReLU")]
    case .gelu: o = ["type": .string("GELU")]
    case .silu: o = ["type": .string("SiLU")]
    case .tanh: o = ["type": .string("Tanh")]
    case .sigmoid: o = ["type": .string("Sigmoid")]
    case .layerNorm(let d, let e): o = ["type": .string("LayerNorm"), "normalized_shape": n(d), "eps": .number(Double(e))]
    case .batchNorm(let c, let e, let spatial):
      o = ["type": .string(spatial ? "BatchNorm2d" : "BatchNorm1d"), "num_features": n(c), "eps": .number(Double(e))]
    case .dropout(let p): o = ["type": .string("Dropout"), "p": .number(Double(p))]
    case .embedding(let v, let d): o = ["type": .string("Embedding"), "num_embeddings": n(v), "embedding_dim": n(d)]
    case .multiHeadAttention(let d, let h): o = ["type": .string("MultiHeadAttention"), "embed_dim": n(d), "num_heads": n(h)]
    case .transformerEncoderBlock(let d, let h, let hidden):
      o = ["type": .string("TransformerEncoderBlock"), "dim": n(d), "heads": n(h), "hidden": n(hidden)]
    case .mean(let a): o = ["type": .string("Mean"), "dim": n(a)]
    case .sequential(let inner): o = ["type": .string("Sequential"), "layers": .array(inner.map(encode))]
    case .residual(let inner): o = ["type": .string("Residual"), "layers": .array(inner.map(encode))]
    }
    if let name = node.name { o["name"] = .string(name) }
    return .object(o)
  }
}
