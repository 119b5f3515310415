/// Where a per-input-channel scale of one or more `Linear` layers can move into the operation that
/// produces their input, so that it costs nothing at inference.
///
/// AWQ and SmoothQuant compute for a Linear `y = x·Wᵀ` factors `p` (one per input channel) and
/// rewrite it as `(x ⊙ p)·(W ⊙ 1/p)ᵀ`: the weight absorbs `1/p`, the input needs `⊙ p`. That
/// product is a `pre_quant_scale` on the layer's input quantizer unless the producer of `x` can
/// multiply its own output channels by `p` — a `Linear` (its weight rows and bias) or a
/// LayerNorm (its γ and β) — *and* nothing else reads that output. Models declare such places
/// with ``DeclaresScaleFolds``; algorithms fold only there, and keep a `pre_quant_scale`
/// everywhere else (always correct).
///
/// A fold is exact (up to float rounding) when:
/// - ``consumers`` are **all** the readers of the producer's output (a residual connection that
///   also reads it makes the fold wrong: BERT's post-norm LayerNorms feed both the next
///   projections and the residual sum, so they declare no fold);
/// - the way from producer to consumers commutes with per-channel scaling (``Path``);
/// - every consumer uses the same factors (one producer channel feeds every consumer);
/// - no enabled quantizer sees the scaled values in between (the producer's `output_quantizer`,
///   ``quantizersOnPath``): scaling its input would change what it rounds.
///
/// The algorithms check the last three conditions; the first is the declaring model's promise.
public struct ScaleFold: Hashable, Sendable, Codable {
  /// How the producer's output reaches the consumers.
  public enum Path: String, Hashable, Sendable, Codable {
    /// Unchanged (LayerNorm → projections of a pre-norm block, Linear → Linear).
    case direct
    /// Through ReLU, which commutes with positive per-channel factors (`relu(a·z) = a·relu(z)`
    /// for `a > 0`); AWQ and SmoothQuant factors are positive. GELU, SiLU and tanh do not commute.
    case relu
    /// The producer is an attention value projection and the consumer reads the attention
    /// context: each context channel is a mix of the same value channel over tokens, so it
    /// scales with that channel.
    case attentionValue
  }

  /// Module path of the producer (a ``ChannelScalable`` module: `Linear`, `LayerNorm`).
  public var producer: String
  /// Paths of the `Linear` layers that read the producer's output, all of them.
  public var consumers: [String]
  /// How the output reaches them.
  public var path: Path
  /// Quantizer paths that see the producer's scaled output on the way (the producer's own
  /// `output_quantizer` is always checked); the fold is skipped while one is enabled.
  public var quantizersOnPath: [String]

  /// Creates a declaration.
  public init(producer: String, consumers: [String], path: Path = .direct, quantizersOnPath: [String] = []) {
    self.producer = producer
    self.consumers = consumers
    self.path = path
    self.quantizersOnPath = quantizersOnPath
  }

  /// The declaration with every path prefixed by `prefix` (a submodule's declarations seen from
  /// the root).
  public func prefixed(_ prefix: String) -> ScaleFold {
    guard !prefix.isEmpty else { return self }
    func p(_ s: String) -> String { "\(prefix).\(s)" }
    return ScaleFold(producer: p(producer), consumers: consumers.map(p), path: path, quantizersOnPath: quantizersOnPath.map(p))
  }
}

/// A module that declares where per-channel input scales of its `Linear` layers can fold
/// (``ScaleFold``), with paths relative to itself. Calibration algorithms collect the
/// declarations of every module of a model (prefixed with its path).
///
/// Built in: ``MLP`` (`fcᵢ → ReLU → fcᵢ₊₁`), ``Sequential`` (a `Linear` followed, through
/// any number of `ReLU` and `Dropout` layers, by a `Linear`, or a `LayerNorm` directly followed by
/// a `Linear`). Declare nothing you cannot promise: a missing declaration only costs a
/// `pre_quant_scale` multiply; a wrong one changes the model.
public protocol DeclaresScaleFolds: AnyObject {
  /// The folds inside this module, paths relative to it.
  var scaleFolds: [ScaleFold] { get }
}

extension Module {
  /// Every ``ScaleFold`` the model's modules declare, with paths from this module.
  public func declaredScaleFolds() -> [ScaleFold] {
    namedModules().flatMap { path, m in ((m as? any DeclaresScaleFolds)?.scaleFolds ?? []).map { $0.prefixed(path) } }
  }
}

extension MLP: DeclaresScaleFolds {
  /// `fcᵢ → ReLU → fcᵢ₊₁` for every pair of consecutive layers.
  public var scaleFolds: [ScaleFold] {
    (1..<Swift.max(1, layers.count)).map { ScaleFold(producer: "fc\($0)", consumers: ["fc\($0 + 1)"], path: .relu) }
  }
}

extension Sequential: DeclaresScaleFolds {
  /// A `Linear` or `LayerNorm` followed by a `Linear`, with only `ReLU` / `Dropout` layers in
  /// between (`ReLU` only after a `Linear`). A Sequential runs its layers in a chain, so the
  /// next `Linear` is the only reader.
  public var scaleFolds: [ScaleFold] {
    var out: [ScaleFold] = []
    let items = children()
    for (i, (name, m)) in items.enumerated() where m is Linear || m is LayerNorm {
      var j = i + 1
      var sawReLU = false
      while j < items.count, items[j].1 is ReLU || items[j].1 is Dropout {
        if items[j].1 is ReLU { sawReLU = true }
        j += 1
      }
      guard j < items.count, items[j].1 is Linear, !(sawReLU && m is LayerNorm) else { continue }
      out.append(ScaleFold(producer: name, consumers: [items[j].0], path: sawReLU ? .relu : .direct))
    }
    return out
  }
}
