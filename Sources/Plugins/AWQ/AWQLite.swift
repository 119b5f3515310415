import Foundation
import QATKit

/// AWQ's scale search (ModelOpt's `awq_lite`): protects the input channels that carry large
/// activations by scaling them up in the weight before it is quantized and down in the input.
///
/// For each group of layers sharing one input (one layer, or the consumers of a declared
/// ``ScaleFold``):
///
/// 1. a full-precision pass collects `x̄_c = mean |x_c|` per input channel, and the weights give
///    `w̄_c = mean over rows of |w_rc| / max|w|` of the row's range group;
/// 2. for α = 0, `alphaStep`, …, 1 the candidate scale is `s = x̄^α / w̄^(1-α)` (clamped to
///    `[1e-4, 1e4]`, normalized by `√(max s · min s)`); its error over the calibration tokens,
///    `Σ‖(x ⊘ s)·Q(W ⊙ s)ᵀ − x·Wᵀ‖²` with `Q` the layer's weight quantizer (ranges from the
///    scaled weight), equals `Σ_r δ_r·XᵀX·δ_rᵀ` with `Δ = Q(W ⊙ s) ⊘ s − W`: the pass of step 1
///    also sums the Gram matrix `XᵀX`, so each candidate costs one weight quantization and one
///    GEMM instead of a forward pass (``AWQMath/referenceLoss(rows:weight:scale:quantizer:)`` is
///    the direct form, tested against it); the unscaled `Q(W)` is a candidate too, so the
///    search never ends worse than plain max calibration on the calibration data;
/// 3. the best scale multiplies the weight's input columns and `1/s` becomes the input's
///    `pre_quant_scale`, then folds into the producer where declared (`fold`);
/// 4. every quantizer is calibrated as usual on the result.
///
/// Statistics and Gram matrices are sums over tokens, combined across the ranks of a data-parallel
/// job before anything is decided, so every rank picks the same scales.
public final class AWQLite: CalibrationAlgorithm {
  /// Options (`algorithm` keys besides `method`).
  public struct Options: PluginOptions, Equatable {
    /// The α grid step, in `(0, 1]` (ModelOpt's `alpha_step`, 0.1).
    public var alphaStep: Float = 0.1
    /// Fold scales into the layers before where the model declares it (``ScaleFold``); `false`
    /// keeps every scale as a `pre_quant_scale` (ModelOpt's fake-quant form).
    public var fold = true
    /// Defaults.
    public init() {}
  }

  /// The options.
  public let options: Options

  /// Creates the algorithm.
  ///
  /// - Throws: ``ConfigError`` at `alphaStep` outside `(0, 1]`.
  public init(options: Options) throws {
    _ = try StrictJSON.inRange(options.alphaStep, Float.leastNonzeroMagnitude...1, "awq_lite options", path: "alphaStep")
    self.options = options
  }

  /// Searches and applies the scales, then calibrates every quantizer.
  public func run(_ session: CalibrationSession) throws -> JSONValue {
    let report = try AWQLite.applyScales(session, options: options)
    try session.calibrate()
    return .object(["layers": report])
  }

  /// The α grid: 0, step, 2·step, … up to 1 (ModelOpt's `arange(0, 1 + step, step)`).
  static func alphas(step: Float) -> [Float] {
    var out: [Float] = []
    var k = 0
    while true {
      let a = Float(k) * step
      if a > 1 + step / 2 { break }
      out.append(Swift.min(a, 1))
      if a >= 1 { break }
      k += 1
    }
    return out
  }

  /// Steps 1–3: searches each group's scale and applies it (weights scaled, `pre_quant_scale`
  /// set, folded where possible). Leaves the quantizers uncalibrated.
  ///
  /// - Returns: Per layer path: the chosen α (`null` for the unscaled weight), the error relative
  ///   to the unscaled weight's, and the producer the scale folded into.
  static func applyScales(_ session: CalibrationSession, options: Options) throws -> JSONValue {
    let groups = session.scaleGroups(folding: options.fold)
    let layers = groups.flatMap(\.layers)
    for l in layers where !(l.weightQuantizer is TensorQuantizer) {
      throw QuantizerError.calibrationFailed(
        path: l.path.isEmpty ? "weight_quantizer" : "\(l.path).weight_quantizer",
        "awq_lite searches with the built-in 'static' weight quantizer, not '\(l.weightQuantizer.attributes.algorithm)'")
    }
    guard !layers.isEmpty else { return .object([:]) }
    let index = Dictionary(layers.enumerated().map { (ObjectIdentifier($0.element.layer), $0.offset) }, uniquingKeysWith: { a, _ in a })
    let widths = layers.map(\.layer.inFeatures)
    let offsets = widths.reduce(into: [0]) { $0.append($0.last! + $1) }

    // 1. One pass: mean |x| per channel (sums and token counts) and the Gram matrix XᵀX of
    //    every layer's input (sums over tokens), both combined across ranks.
    var stats = [Double](repeating: 0, count: offsets.last! + layers.count)
    var grams = widths.map { [Double](repeating: 0, count: $0 * $0) }
    try session.runForwardLoop(observing: layers.map(\.layer)) { k, x in
      let rows = try AWQMath.rows(x, width: widths[k])
      AWQMath.addAbsColumnSums(rows, into: &stats, offset: offsets[k])
      stats[offsets.last! + k] += Double(rows.shape[0])
      AWQMath.addGram(rows, into: &grams[k])
    }
    stats = try session.allReduce(stats, .sum)
    for k in grams.indices { grams[k] = try session.allReduce(grams[k], .sum) }

    // Candidate scales per group (nil = the unscaled weight).
    let alphaGrid = alphas(step: options.alphaStep)
    var candidates: [[[Float]?]] = []
    var reached: [Bool] = []
    for g in groups {
      let first = index[ObjectIdentifier(g.layers[0].layer)]!
      let tokens = stats[offsets.last! + first]
      reached.append(tokens > 0)
      guard tokens > 0 else {
        candidates.append([nil])
        continue
      }
      let act = (0..<widths[first]).map { Float(stats[offsets[first] + $0] / tokens) }
      let blockSize: Int? = {
        if case .perBlock(let b) = g.layers[0].weightQuantizer.attributes.granularity { return b }
        return nil
      }()
      let w = AWQMath.weightScale(g.layers.map(\.layer.weight), blockSize: blockSize)
      candidates.append([nil] + alphaGrid.map { AWQMath.scales(act: act, weight: w, alpha: $0) })
    }
    let groupOf = Dictionary(
      groups.enumerated().flatMap { gi, g in g.layers.map { (ObjectIdentifier($0.layer), gi) } }, uniquingKeysWith: { a, _ in a })

    // 2. Output error of every candidate, per layer, from the Gram matrix (no second pass):
    //    Σ‖(X ⊘ s)·Q(W ⊙ s)ᵀ − X·Wᵀ‖² = Σ_r δ_r·XᵀX·δ_rᵀ with Δ = Q(W ⊙ s) ⊘ s − W
    //    (``AWQMath/candidateLoss(gram:weight:scale:quantizer:)``).
    let counts = candidates.map(\.count)
    let lossOffsets = layers.map { l in counts[groupOf[ObjectIdentifier(l.layer)]!] }.reduce(into: [0]) { $0.append($0.last! + $1) }
    var losses = [Double](repeating: 0, count: lossOffsets.last!)
    for (k, l) in layers.enumerated() {
      let g = groupOf[ObjectIdentifier(l.layer)]!
      guard candidates[g].count > 1 else { continue }
      let gram = try Tensor(grams[k].map { Float($0) }, shape: [widths[k], widths[k]])
      for (c, scale) in candidates[g].enumerated() {
        losses[lossOffsets[k] + c] = try AWQMath.candidateLoss(gram: gram, weight: l.layer.weight, scale: scale, quantizer: l.weightQuantizer)
      }
    }
    grams = []

    // 3. Apply the best scale of each group.
    var choice: [String: JSONValue] = [:]
    for (gi, g) in groups.enumerated() {
      let members = g.layers.map { index[ObjectIdentifier($0.layer)]! }
      var total = [Double](repeating: 0, count: candidates[gi].count)
      for k in members { for c in total.indices { total[c] += losses[lossOffsets[k] + c] } }
      let best = total.indices.min { total[$0] < total[$1] } ?? 0
      let alpha: JSONValue = best == 0 ? .null : .number(Double(alphaGrid[best - 1]))
      let ratio: JSONValue = total[0] > 0 ? .number(total[best] / total[0]) : .null
      for l in g.layers {
        choice[l.path] = .object(["alpha": alpha, "errorRatio": ratio, "reached": .bool(reached[gi])])
      }
      guard let scale = candidates[gi][best] else { continue }
      for l in g.layers {
        AWQMath.scaleColumnsInPlace(l.layer.weight, by: scale)
        try session.setInputScale(scale.map { 1 / $0 }, of: l.layer, path: l.path)
      }
    }
    if options.fold {
      for fold in try session.foldInputScales() {
        for c in fold.consumers {
          if case .object(var o)? = choice[c] {
            o["foldedInto"] = .string(fold.producer)
            choice[c] = .object(o)
          }
        }
      }
    }
    return .object(choice)
  }
}
