import QATKit

/// AWQ's clipping search (ModelOpt's `awq_clip`): after the weights are calibrated, each range
/// group of a weight (a block of a row, a row, or the whole tensor) tries the ranges
/// `amax · r` for `r` = `minClipRatio`, `minClipRatio + shrinkStep`, …, 1 and keeps the one whose
/// part of the layer output `Σ_t (x_t,group · (w − Q_r(w))_group)²` is smallest, measured on up to
/// about `maxTokensPerBatch` tokens of every calibration batch (the inputs after their
/// `pre_quant_scale`, in a full-precision pass). The pass sums the tokens' Gram matrix `XᵀX`
/// (its diagonal blocks for per-block ranges), so every ratio costs one weight quantization and
/// a GEMM with it (`err_g·XᵀX·err_gᵀ`), not another pass. Then the activation quantizers are
/// calibrated.
///
/// For the built-in `static` weight quantizer with a calibrated per-tensor, per-output-channel
/// or per-block range; other weight quantizers keep their range (listed as skipped in the report).
public final class AWQClip: CalibrationAlgorithm {
  /// Options (`algorithm` keys besides `method`), ModelOpt's defaults.
  public struct Options: PluginOptions, Equatable {
    /// Tokens taken from each calibration batch: every `⌊M / n⌋`-th of its `M` rows
    /// (ModelOpt's `max_tokens_per_batch`, 64).
    public var maxTokensPerBatch = 64
    /// The smallest ratio tried, in `(0, 1)` (0.5).
    public var minClipRatio: Float = 0.5
    /// The ratio step, in `(0, 1]` (0.05).
    public var shrinkStep: Float = 0.05
    /// Defaults.
    public init() {}
  }

  /// The options.
  public let options: Options

  /// Creates the algorithm.
  ///
  /// - Throws: ``ConfigError`` naming the option out of range.
  public init(options: Options) throws {
    try AWQClip.validate(options, context: "awq_clip options")
    self.options = options
  }

  static func validate(_ o: Options, context: String) throws {
    _ = try StrictJSON.inRange(o.maxTokensPerBatch, 1...(1 << 20), context, path: "maxTokensPerBatch")
    guard o.minClipRatio > 0, o.minClipRatio < 1 else {
      throw ConfigError.invalidValue(context, path: "minClipRatio", "must be in (0, 1), got \(o.minClipRatio)")
    }
    _ = try StrictJSON.inRange(o.shrinkStep, Float.leastNonzeroMagnitude...1, context, path: "shrinkStep")
  }

  /// Calibrates the weights, searches their clipping, then calibrates the activations.
  public func run(_ session: CalibrationSession) throws -> JSONValue {
    try session.calibrate(weights: true, activations: false)
    let report = try AWQClip.search(session, options: options)
    try session.calibrate(weights: false, activations: true)
    return .object(["clip": report])
  }

  /// ModelOpt's ratios: `minClipRatio` up to (not including) 1 in steps, rounded to two
  /// decimals, then 1.
  static func ratios(_ o: Options) -> [Float] {
    var out: [Float] = []
    var k = 0
    while true {
      let r = o.minClipRatio + Float(k) * o.shrinkStep
      if r >= 1 - 1e-6 { break }
      out.append((r * 100).rounded() / 100)
      k += 1
    }
    return out + [1]
  }

  /// The search on calibrated weights; sets each searched weight quantizer's range.
  ///
  /// - Returns: Per layer path the mean chosen ratio, or why it was skipped.
  static func search(_ session: CalibrationSession, options: Options) throws -> JSONValue {
    struct Target {
      let layer: CalibrationSession.LinearLayer
      let quantizer: TensorQuantizer
      let base: Tensor
      let blockSize: Int?
    }
    var report: [String: JSONValue] = [:]
    var targets: [Target] = []
    for l in session.linearLayers() {
      guard let q = l.weightQuantizer as? TensorQuantizer, !q.attributes.dynamic, let amax = q.amax,
        let granularity = q.amaxGranularity
      else {
        report[l.path] = .string("skipped: no calibrated range of the built-in weight quantizer")
        continue
      }
      switch granularity {
      case .perTensor:
        targets.append(Target(layer: l, quantizer: q, base: amax, blockSize: nil))
      case .perChannel(let a) where a == 0 || a == -2:
        targets.append(Target(layer: l, quantizer: q, base: amax, blockSize: nil))
      case .perBlock(let b):
        targets.append(Target(layer: l, quantizer: q, base: amax, blockSize: b))
      default:
        report[l.path] = .string("skipped: \(granularity) ranges (clip searches per tensor, output channel or block)")
      }
    }
    guard !targets.isEmpty else { return .object(report) }
    let ratios = ratios(options)
    let groupCounts = targets.map(\.base.count)
    let offsets = groupCounts.reduce(into: [0]) { $0.append($0.last! + $1 * ratios.count) }
    // One pass sums the Gram matrices of the picked tokens (the diagonal blocks for per-block
    // ranges); every ratio's error then comes from them without another pass.
    var grams = targets.map { t in
      let cols = t.layer.layer.inFeatures
      return [Double](repeating: 0, count: t.blockSize.map { cols * $0 } ?? cols * cols)
    }
    try session.runForwardLoop(observing: targets.map(\.layer.layer), point: .quantized) { k, x in
      let t = targets[k]
      let all = try AWQMath.rows(x, width: t.layer.layer.inFeatures)
      let m = all.shape[0]
      let step = Swift.max(1, m / options.maxTokensPerBatch)
      let xs = all.gather(stride(from: 0, to: m, by: step).map { $0 }, axis: 0)
      addGrams(xs, blockSize: t.blockSize, into: &grams[k])
    }
    for k in grams.indices { grams[k] = try session.allReduce(grams[k], .sum) }
    var losses = [Double](repeating: 0, count: offsets.last!)
    for (k, t) in targets.enumerated() {
      let w = t.layer.layer.weight
      let cols = w.shape[1]
      let blocks = try gramTensors(grams[k], cols: cols, blockSize: t.blockSize)
      defer { try? t.quantizer.setAmax(t.base) }
      for (ri, r) in ratios.enumerated() {
        try t.quantizer.setAmax(Tensor(t.base.scalars.map { $0 * r }, shape: t.base.shape))
        let wq = CalibrationSession.fakeQuantize(w, with: t.quantizer)
        let err = Tensor.withoutGrad { w - wq }
        let rows = groupLosses(err, grams: blocks, blockSize: t.blockSize)
        let base = offsets[k] + ri * groupCounts[k]
        if groupCounts[k] == 1 {
          losses[base] += rows.reduce(0, +)
        } else {
          for (i, v) in rows.enumerated() { losses[base + i] += v }
        }
      }
    }
    grams = []
    for (k, t) in targets.enumerated() {
      let g = groupCounts[k]
      var best = t.base.scalars
      var chosen = [Float](repeating: 1, count: g)
      var bestLoss = [Double](repeating: .infinity, count: g)
      for (ri, r) in ratios.enumerated() {
        for i in 0..<g where losses[offsets[k] + ri * g + i] < bestLoss[i] {
          bestLoss[i] = losses[offsets[k] + ri * g + i]
          chosen[i] = r
        }
      }
      for i in 0..<g { best[i] *= chosen[i] }
      try t.quantizer.setAmax(Tensor(best, shape: t.base.shape))
      let mean = chosen.reduce(0, +) / Float(g)
      report[t.layer.path] = .object(["meanRatio": .number(Double(mean)), "clippedGroups": .number(Double(chosen.filter { $0 < 1 }.count)), "groups": .number(Double(g))])
    }
    return .object(report)
  }

  /// Adds `xᵀx` of `x [M, cols]` to `gram`: the whole matrix, or with `blockSize` its diagonal
  /// blocks one after another (`cols / b` blocks of `b·b`), accumulated in Double.
  static func addGrams(_ x: Tensor, blockSize: Int?, into gram: inout [Double]) {
    guard let b = blockSize else { return AWQMath.addGram(x, into: &gram) }
    let cols = x.shape[1]
    for j in 0..<(cols / b) {
      var block = [Double](repeating: 0, count: b * b)
      AWQMath.addGram(x.slice(axis: 1, j * b..<(j + 1) * b), into: &block)
      for i in 0..<(b * b) { gram[j * b * b + i] += block[i] }
    }
  }

  /// The summed Gram matrices as Float tensors: one `[cols, cols]`, or one `[b, b]` per block.
  static func gramTensors(_ gram: [Double], cols: Int, blockSize: Int?) throws -> [Tensor] {
    guard let b = blockSize else { return [try Tensor(gram.map { Float($0) }, shape: [cols, cols])] }
    return try (0..<(cols / b)).map { j in try Tensor(gram[(j * b * b)..<((j + 1) * b * b)].map { Float($0) }, shape: [b, b]) }
  }

  /// Each range group's part of the output error `Σ_t (x_t,group · err_group)²` from the Gram
  /// matrices (``gramTensors(_:cols:blockSize:)``): `err_g·G·err_gᵀ` per row (and block), in
  /// group order (row-major over `[rows, blocks]`). ``referenceGroupLosses(_:rows:blockSize:)``
  /// is the direct form on the tokens.
  static func groupLosses(_ err: Tensor, grams: [Tensor], blockSize: Int?) -> [Double] {
    let (out, cols) = (err.shape[0], err.shape[1])
    let b = blockSize ?? cols
    let nb = cols / b
    var losses = [Double](repeating: 0, count: out * nb)
    for j in 0..<nb {
      let e = nb == 1 ? err : err.slice(axis: 1, j * b..<(j + 1) * b)
      let p = Tensor.withoutGrad { Tensor.matmul(e, transposed: grams[j]) }
      e.withUnsafeBufferPointer { ev in
        p.withUnsafeBufferPointer { pv in
          for r in 0..<out {
            var total = 0.0
            for c in 0..<b { total += Double(ev[r * b + c]) * Double(pv[r * b + c]) }
            losses[r * nb + j] = total
          }
        }
      }
    }
    return losses
  }

  /// The direct form of ``groupLosses(_:grams:blockSize:)``: the products of the token rows
  /// (each `[M, cols]`) with the error, squared and summed per group.
  static func referenceGroupLosses(_ err: Tensor, rows: [Tensor], blockSize: Int?) -> [Double] {
    let (out, cols) = (err.shape[0], err.shape[1])
    let b = blockSize ?? cols
    let nb = cols / b
    var losses = [Double](repeating: 0, count: out * nb)
    for x in rows {
      for j in 0..<nb {
        let p = Tensor.withoutGrad { Tensor.matmul(x.slice(axis: 1, j * b..<(j + 1) * b), transposed: err.slice(axis: 1, j * b..<(j + 1) * b)) }
        p.withUnsafeBufferPointer { v in
          for t in 0..<(v.count / out) { for r in 0..<out { losses[r * nb + j] += Double(v[t * out + r] * v[t * out + r]) } }
        }
      }
    }
    return losses
  }
}

/// AWQ in full (ModelOpt's `awq_full`): the ``AWQLite`` scale search, then the ``AWQClip``
/// clipping search on the scaled, calibrated weights, then the activation ranges.
public final class AWQFull: CalibrationAlgorithm {
  /// Both algorithms' options.
  public struct Options: PluginOptions, Equatable {
    /// See ``AWQLite/Options/alphaStep``.
    public var alphaStep: Float = 0.1
    /// See ``AWQLite/Options/fold``.
    public var fold = true
    /// See ``AWQClip/Options/maxTokensPerBatch``.
    public var maxTokensPerBatch = 64
    /// See ``AWQClip/Options/minClipRatio``.
    public var minClipRatio: Float = 0.5
    /// See ``AWQClip/Options/shrinkStep``.
    public var shrinkStep: Float = 0.05
    /// Defaults.
    public init() {}
  }

  /// The options.
  public let options: Options
  private let lite: AWQLite.Options
  private let clip: AWQClip.Options

  /// Creates the algorithm.
  ///
  /// - Throws: ``ConfigError`` naming the option out of range.
  public init(options: Options) throws {
    var lite = AWQLite.Options()
    lite.alphaStep = options.alphaStep
    lite.fold = options.fold
    _ = try AWQLite(options: lite)
    var clip = AWQClip.Options()
    clip.maxTokensPerBatch = options.maxTokensPerBatch
    clip.minClipRatio = options.minClipRatio
    clip.shrinkStep = options.shrinkStep
    try AWQClip.validate(clip, context: "awq_full options")
    self.options = options
    self.lite = lite
    self.clip = clip
  }

  /// Scales, weight ranges, clipping, activation ranges.
  public func run(_ session: CalibrationSession) throws -> JSONValue {
    let layers = try AWQLite.applyScales(session, options: lite)
    try session.calibrate(weights: true, activations: false)
    let clipped = try AWQClip.search(session, options: clip)
    try session.calibrate(weights: false, activations: true)
    return .object(["layers": layers, "clip": clipped])
  }
}
