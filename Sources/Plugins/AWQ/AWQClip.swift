import QATKit

/// AWQ's clipping search (ModelOpt's `awq_clip`): after the weights are calibrated, each range
/// group of a weight (a block of a row, a row, or the whole tensor) tries the ranges
/// `amax · r` for `r` = `minClipRatio`, `minClipRatio + shrinkStep`, …, 1 and keeps the one whose
/// part of the layer output `Σ_t (x_t,group · (w − Q_r(w))_group)²` is smallest, measured on up to
/// about `maxTokensPerBatch` tokens of every calibration batch (the inputs after their
/// `pre_quant_scale`, in a full-precision pass). Then the activation quantizers are calibrated.
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
    var losses = [Double](repeating: 0, count: offsets.last!)
    try session.runForwardLoop(observing: targets.map(\.layer.layer), point: .quantized) { k, x in
      let t = targets[k]
      let w = t.layer.layer.weight
      let (out, cols) = (w.shape[0], w.shape[1])
      let all = try AWQMath.rows(x, width: cols)
      let m = all.shape[0]
      let step = Swift.max(1, m / options.maxTokensPerBatch)
      let picked = stride(from: 0, to: m, by: step).map { $0 }
      let xs = all.gather(picked, axis: 0)
      defer { try? t.quantizer.setAmax(t.base) }
      for (ri, r) in ratios.enumerated() {
        try t.quantizer.setAmax(Tensor(t.base.scalars.map { $0 * r }, shape: t.base.shape))
        let wq = CalibrationSession.fakeQuantize(w, with: t.quantizer)
        let err = try Tensor(zip(w.scalars, wq.scalars).map { $0 - $1 }, shape: w.shape)
        let base = offsets[k] + ri * groupCounts[k]
        if let b = t.blockSize {
          for j in 0..<(cols / b) {
            let p = Tensor.withoutGrad { Tensor.matmul(xs.slice(axis: 1, j * b..<(j + 1) * b), transposed: err.slice(axis: 1, j * b..<(j + 1) * b)) }
            accumulateColumns(p, into: &losses, base: base, stride: cols / b, offset: j, rows: out)
          }
        } else {
          let p = Tensor.withoutGrad { Tensor.matmul(xs, transposed: err) }
          if groupCounts[k] == 1 {
            losses[base] += AWQMath.squaredError(p, Tensor.zeros(p.shape))
          } else {
            accumulateColumns(p, into: &losses, base: base, stride: 1, offset: 0, rows: out)
          }
        }
      }
    }
    losses = try session.allReduce(losses, .sum)
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

  /// `losses[base + r·stride + offset] += Σ_t p[t, r]²` for each output row `r` (`p` is `[T, rows]`).
  private static func accumulateColumns(_ p: Tensor, into losses: inout [Double], base: Int, stride: Int, offset: Int, rows: Int) {
    var sums = [Float](repeating: 0, count: rows)
    p.withUnsafeBufferPointer { v in
      for t in 0..<(v.count / rows) {
        let b = t * rows
        for r in 0..<rows { sums[r] += v[b + r] * v[b + r] }
      }
    }
    for r in 0..<rows { losses[base + r * stride + offset] += Double(sums[r]) }
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
