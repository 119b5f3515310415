import Foundation
import QATKit

/// SmoothQuant: for every quantized `Linear` whose input is quantized too, a full-precision pass
/// collects the largest `|x_c|` per input channel; with the largest `|w_rc|` per input column,
/// the smoothing factor is `s_c = max|x_c|^α / max|w_c|^(1-α)` (1 for channels that never leave
/// 2⁻³¹, the factor `1/s` clamped to `[1e-4, 1e4]`, as ModelOpt). The weight's column `c` is
/// multiplied by `s_c` and the input divided by it — folded into the producer where the model
/// declares it (``ScaleFold``; consumers of one fold share the maxima over all of them), else
/// the input quantizer's `pre_quant_scale`. Then every quantizer is calibrated on the smoothed
/// model, so the input ranges are those of the smoothed activations.
///
/// With `alphas` (a list), each group of layers picks the α with the smallest output error of
/// its quantized layer `Σ‖Q_a(x ⊘ s)·Q_w(W ⊙ s)ᵀ − x·Wᵀ‖²` on the calibration data (input
/// ranges for the trial: the max-calibrated range of the smoothed inputs), the unsmoothed layer
/// included — an extension of the paper, which picks one α per model by hand.
///
/// Maxima combine across ranks with MAX (bit-identical to one process); trial errors with SUM.
public final class SmoothQuant: CalibrationAlgorithm {
  /// Options (`algorithm` keys besides `method`).
  public struct Options: PluginOptions, Equatable {
    /// Migration strength in `[0, 1]`: 0 leaves activations as they are, 1 moves their whole
    /// range into the weights. The paper's default, 0.5 (ModelOpt defaults to 1.0).
    public var alpha: Float = 0.5
    /// When given, the candidates searched per layer group instead of the fixed `alpha`.
    public var alphas: [Float]? = nil
    /// Fold the factors into the layers before where the model declares it.
    public var fold = true
    /// Defaults.
    public init() {}
  }

  /// The options.
  public let options: Options

  /// Creates the algorithm.
  ///
  /// - Throws: ``ConfigError`` for `alpha` or an `alphas` entry outside `[0, 1]`, or an empty list.
  public init(options: Options) throws {
    _ = try StrictJSON.inRange(options.alpha, 0...1, "smoothquant options", path: "alpha")
    if let list = options.alphas {
      guard !list.isEmpty else { throw ConfigError.invalidValue("smoothquant options", path: "alphas", "give at least one α") }
      for (i, a) in list.enumerated() { _ = try StrictJSON.inRange(a, 0...1, "smoothquant options", path: "alphas[\(i)]") }
    }
    self.options = options
  }

  /// Smooths, then calibrates every quantizer.
  public func run(_ session: CalibrationSession) throws -> JSONValue {
    let inputQuantized = { (l: CalibrationSession.LinearLayer) -> Bool in
      l.layer.quantizer(slot: "input_quantizer")?.isEnabled == true && session.quantizers.contains { $0.quantizer === l.layer.quantizer(slot: "input_quantizer") }
    }
    let groups = session.scaleGroups(folding: options.fold).filter { $0.layers.allSatisfy(inputQuantized) }
    let layers = groups.flatMap(\.layers)
    var report: [String: JSONValue] = [:]
    guard !layers.isEmpty else {
      try session.calibrate()
      return .object(["layers": .object([:]), "note": .string("no layer has both its weight and its input quantized")])
    }
    let widths = layers.map(\.layer.inFeatures)
    let offsets = widths.reduce(into: [0]) { $0.append($0.last! + $1) }
    var maxima = [Float](repeating: 0, count: offsets.last!)
    try session.runForwardLoop(observing: layers.map(\.layer)) { k, x in
      let w = widths[k]
      guard x.shape.last == w else {
        throw QuantizerError.calibrationFailed(path: layers[k].path, "input of shape \(x.shape) does not end in \(w) features")
      }
      x.withUnsafeBufferPointer { p in
        for r in 0..<(p.count / w) {
          for c in 0..<w where p[r * w + c].isFinite {
            maxima[offsets[k] + c] = Swift.max(maxima[offsets[k] + c], Swift.abs(p[r * w + c]))
          }
        }
      }
    }
    maxima = try session.allReduce(maxima, .max)

    var candidatesPerGroup: [[(alpha: Float?, factors: [Float])]] = []
    let index = Dictionary(layers.enumerated().map { (ObjectIdentifier($0.element.layer), $0.offset) }, uniquingKeysWith: { a, _ in a })
    for g in groups {
      let k0 = index[ObjectIdentifier(g.layers[0].layer)]!
      var act = [Float](repeating: 0, count: widths[k0])
      for l in g.layers {
        let k = index[ObjectIdentifier(l.layer)]!
        for c in act.indices { act[c] = Swift.max(act[c], maxima[offsets[k] + c]) }
      }
      let wmax = Self.columnMaxima(g.layers.map(\.layer.weight))
      if let list = options.alphas {
        candidatesPerGroup.append([(nil, [Float](repeating: 1, count: act.count))] + list.map { ($0, Self.preQuantScale(act: act, weight: wmax, alpha: $0)) })
      } else {
        candidatesPerGroup.append([(options.alpha, Self.preQuantScale(act: act, weight: wmax, alpha: options.alpha))])
      }
    }
    var chosen = candidatesPerGroup.map { _ in 0 }
    if options.alphas != nil {
      chosen = try Self.search(session, groups: groups, candidates: candidatesPerGroup, maxima: maxima, offsets: offsets, index: index)
    }
    for (gi, g) in groups.enumerated() {
      let pick = candidatesPerGroup[gi][chosen[gi]]
      for l in g.layers {
        report[l.path] = .object(["alpha": pick.alpha.map { .number(Double($0)) } ?? .null])
        guard pick.alpha != nil else { continue }
        Self.scaleColumns(l.layer.weight, by: pick.factors.map { 1 / $0 })
        try session.setInputScale(pick.factors, of: l.layer, path: l.path)
      }
    }
    if options.fold {
      for fold in try session.foldInputScales() {
        for c in fold.consumers {
          if case .object(var o)? = report[c] {
            o["foldedInto"] = .string(fold.producer)
            report[c] = .object(o)
          }
        }
      }
    }
    try session.calibrate()
    return .object(["layers": .object(report)])
  }

  /// The `pre_quant_scale` of one channel set: `max|w|^(1-α) / max|x|^α` (`1/s`), 1 where the
  /// activation never exceeds 2⁻³¹, clamped to `[1e-4, 1e4]`.
  static func preQuantScale(act: [Float], weight: [Float], alpha: Float) -> [Float] {
    zip(act, weight).map { x, w in
      guard x > 1 / Float(1 << 31) else { return 1 }
      let v = powf(w, 1 - alpha) / powf(x, alpha)
      return v.isFinite ? Swift.min(Swift.max(v, 1e-4), 1e4) : 1
    }
  }

  /// The largest `|w|` of every input column over all `weights` (`[out, in]` each).
  static func columnMaxima(_ weights: [Tensor]) -> [Float] {
    let cols = weights[0].shape[1]
    var m = [Float](repeating: 0, count: cols)
    for w in weights {
      w.withUnsafeBufferPointer { p in
        for r in 0..<(p.count / cols) { for c in 0..<cols { m[c] = Swift.max(m[c], Swift.abs(p[r * cols + c])) } }
      }
    }
    return m
  }

  /// Multiplies column `c` of `w` by `factors[c]` in place.
  static func scaleColumns(_ w: Tensor, by factors: [Float]) {
    let cols = w.shape[1]
    w.withUnsafeMutableBufferPointer { p in
      for r in 0..<(p.count / cols) { for c in 0..<cols { p[r * cols + c] *= factors[c] } }
    }
  }

  /// The candidate of each group with the smallest output error of the W/A-quantized layers.
  private static func search(
    _ session: CalibrationSession, groups: [CalibrationSession.ScaleGroup], candidates: [[(alpha: Float?, factors: [Float])]],
    maxima: [Float], offsets: [Int], index: [ObjectIdentifier: Int]
  ) throws -> [Int] {
    let layers = groups.flatMap(\.layers)
    let groupOf = Dictionary(groups.enumerated().flatMap { gi, g in g.layers.map { (ObjectIdentifier($0.layer), gi) } }, uniquingKeysWith: { a, _ in a })
    let counts = layers.map { candidates[groupOf[ObjectIdentifier($0.layer)]!].count }
    let lossOffsets = counts.reduce(into: [0]) { $0.append($0.last! + $1) }
    var losses = [Double](repeating: 0, count: lossOffsets.last!)
    // The input quantizers, taken before the pass puts its observers into their slots.
    let inputQuantizers = layers.map { $0.layer.quantizer(slot: "input_quantizer") as? TensorQuantizer }
    // Each candidate's quantized weight, made on the first batch and reused by the others (the
    // weights do not change during the pass).
    var quantizedWeights = layers.map { l in [Tensor?](repeating: nil, count: candidates[groupOf[ObjectIdentifier(l.layer)]!].count) }
    try session.runForwardLoop(observing: layers.map(\.layer)) { k, x in
      let l = layers[k]
      let g = groupOf[ObjectIdentifier(l.layer)]!
      let w = l.layer.inFeatures
      let rows = try Tensor(x.scalars, shape: [x.count / w, w])
      let reference = Tensor.matmul(rows, transposed: l.layer.weight)
      guard let iq = inputQuantizers[k] else {
        throw QuantizerError.calibrationFailed(
          path: l.path.isEmpty ? "input_quantizer" : "\(l.path).input_quantizer",
          "smoothquant searches α with the built-in 'static' input quantizer, not '\(l.layer.quantizer(slot: "input_quantizer")?.attributes.algorithm ?? "none")'")
      }
      let saved = iq.preQuantScale
      defer {
        try? iq.setPreQuantScale(saved)
        iq.resetRange()
      }
      for (c, cand) in candidates[g].enumerated() {
        try iq.setPreQuantScale(Tensor(cand.factors))
        var amax: Float = 0
        for i in 0..<w { amax = Swift.max(amax, maxima[offsets[k] + i] * cand.factors[i]) }
        if iq.amaxGranularity == .perTensor { try iq.setAmax(Tensor(scalar: amax)) } else { iq.resetRange() }
        let xq = CalibrationSession.fakeQuantize(rows, with: iq)
        let wq: Tensor
        if let cached = quantizedWeights[k][c] {
          wq = cached
        } else {
          let ws = l.layer.weight.copy()
          scaleColumns(ws, by: cand.factors.map { 1 / $0 })
          wq = CalibrationSession.fakeQuantize(ws, with: l.weightQuantizer)
          quantizedWeights[k][c] = wq
        }
        let out = Tensor.matmul(xq, transposed: wq)
        losses[lossOffsets[k] + c] += squaredError(out, reference)
      }
    }
    losses = try session.allReduce(losses, .sum)
    return groups.map { g in
      var total = [Double](repeating: 0, count: candidates[groupOf[ObjectIdentifier(g.layers[0].layer)]!].count)
      for l in g.layers {
        let k = index[ObjectIdentifier(l.layer)]!
        for c in total.indices { total[c] += losses[lossOffsets[k] + c] }
      }
      return total.indices.min { total[$0] < total[$1] } ?? 0
    }
  }

  private static func squaredError(_ a: Tensor, _ b: Tensor) -> Double {
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        var total = 0.0
        for i in 0..<pa.count {
          let d = Double(pa[i] - pb[i])
          total += d * d
        }
        return total
      }
    }
  }
}
