import QATKit

/// GPTQ: rounds each quantized `Linear`'s weight so that its output on the calibration inputs
/// changes least, using second-order information.
///
/// 1. Every quantizer is calibrated as usual: the weight ranges come from the original weights
///    (with the configured calibrator) and stay fixed, so GPTQ decides only the rounding.
/// 2. A pass with the activation quantizers enabled and the weight quantizers off collects
///    `H = Σ x·xᵀ` of each layer's (quantized) input; with `sequential`, one pass per layer in
///    model order, the layers before it already rounded and quantized, so later Hessians see
///    earlier layers' errors (ModelOpt's layer-wise mode; N passes for N layers).
/// 3. Per layer (``GPTQSolver``): dead inputs zeroed, columns by decreasing `H_ii` with
///    `actOrder`, damping `percDamp · mean(diag H)`, `U` = upper Cholesky factor of `H⁻¹`, then
///    column by column `q = Q(w)`, and the later columns absorb `(w − q)/U_jj · U_j,·`, in blocks of
///    `blockSize` columns. The weight becomes the rounded values: the weight quantizer (same
///    ranges) reproduces them bit for bit.
///
/// Integer weight formats only (`int2`…`int8`, per tensor, output channel or block, built-in
/// `static` quantizer). Hessians are sums over tokens combined across the ranks of a
/// data-parallel job before any rounding, so every rank computes the same weights. The report
/// gives per layer the output error `‖X·(W − Ŵ)ᵀ‖² / ‖X·Wᵀ‖²` on the calibration inputs for plain
/// rounding (`rtn`) and for GPTQ (`gptq`).
public final class GPTQ: CalibrationAlgorithm {
  /// Options (`algorithm` keys besides `method`), ModelOpt's defaults.
  public struct Options: PluginOptions, Equatable {
    /// Damping as a fraction of the mean Hessian diagonal, in `(0, 1]` (0.01).
    public var percDamp: Double = 0.01
    /// Columns per lazy-update block, ≥ 1 (128).
    public var blockSize = 128
    /// Process columns by decreasing Hessian diagonal (the paper's "act order").
    public var actOrder = false
    /// One calibration pass per layer, earlier layers already rounded (see above).
    public var sequential = false
    /// Defaults.
    public init() {}
  }

  /// The options.
  public let options: Options

  /// Creates the algorithm.
  ///
  /// - Throws: ``ConfigError`` for `percDamp` outside `(0, 1]` or `blockSize` < 1.
  public init(options: Options) throws {
    guard options.percDamp > 0, options.percDamp <= 1 else {
      throw ConfigError.invalidValue("gptq options", path: "percDamp", "must be in (0, 1], got \(options.percDamp)")
    }
    _ = try StrictJSON.inRange(options.blockSize, 1...(1 << 20), "gptq options", path: "blockSize")
    self.options = options
  }

  /// Calibrates, collects Hessians, rounds the weights.
  public func run(_ session: CalibrationSession) throws -> JSONValue {
    let layers = session.linearLayers()
    try session.calibrate()
    var grids: [ColumnGrid] = []
    for l in layers {
      do { grids.append(try ColumnGrid(l.weightQuantizer, shape: l.layer.weight.shape)) } catch QuantizerError.calibrationFailed(_, let m) {
        throw QuantizerError.calibrationFailed(path: l.path.isEmpty ? "weight_quantizer" : "\(l.path).weight_quantizer", m)
      }
    }
    var report: [String: JSONValue] = [:]
    if options.sequential {
      for k in layers.indices {
        let h = try hessians(session, layers: layers, observe: [k], rounded: k)
        report[layers[k].path] = try round(layers[k], grid: grids[k], hessian: h[0])
      }
    } else {
      let hs = try hessians(session, layers: layers, observe: Array(layers.indices), rounded: 0)
      for k in layers.indices { report[layers[k].path] = try round(layers[k], grid: grids[k], hessian: hs[k]) }
    }
    return .object(["layers": .object(report)])
  }

  /// `Σ x·xᵀ` of the inputs of `layers[observe]` (after their input quantizers), combined across
  /// ranks; the first `rounded` layers' weight quantizers stay on, the others are off.
  private func hessians(
    _ session: CalibrationSession, layers: [CalibrationSession.LinearLayer], observe: [Int], rounded: Int
  ) throws -> [SquareMatrix] {
    let widths = observe.map { layers[$0].layer.inFeatures }
    var sums = widths.map { [Double](repeating: 0, count: $0 * $0) }
    let off = layers[rounded...].map(\.weightQuantizer).filter(\.isEnabled)
    for q in off { q.isEnabled = false }
    defer { for q in off { q.isEnabled = true } }
    try session.runForwardLoop(quantized: true, observing: observe.map { layers[$0].layer }, point: .quantized) { i, x in
      let n = widths[i]
      guard x.shape.last == n else {
        throw QuantizerError.calibrationFailed(path: layers[observe[i]].path, "input of shape \(x.shape) does not end in \(n) features")
      }
      let xt = try Tensor(x.scalars, shape: [x.count / n, n]).transposed()
      let product = Tensor.matmul(xt, transposed: xt)
      product.withUnsafeBufferPointer { p in
        sums[i].withUnsafeMutableBufferPointer { s in for j in 0..<p.count { s[j] += Double(p[j]) } }
      }
    }
    return try sums.enumerated().map { i, s in SquareMatrix(n: widths[i], values: try session.allReduce(s, .sum)) }
  }

  /// Rounds one layer's weight in place; its report entry.
  private func round(_ l: CalibrationSession.LinearLayer, grid: ColumnGrid, hessian: SquareMatrix) throws -> JSONValue {
    let w = l.layer.weight
    let (rows, cols) = (w.shape[0], w.shape[1])
    let original = w.scalars
    var working = original
    let prepared = GPTQSolver.prepare(
      hessian: hessian, weight: &working, rows: rows, cols: cols, percDamp: options.percDamp, actOrder: options.actOrder)
    let rounded = try GPTQSolver.blocked(
      working, rows: rows, cols: cols, u: prepared.u, blockSize: options.blockSize, grid: grid, order: prepared.order)
    let rtn = CalibrationSession.fakeQuantize(w, with: l.weightQuantizer).scalars
    let base = try GPTQSolver.outputError(original, [Float](repeating: 0, count: original.count), rows: rows, cols: cols, hessian: hessian)
    let errRTN = try GPTQSolver.outputError(original, rtn, rows: rows, cols: cols, hessian: hessian)
    let errGPTQ = try GPTQSolver.outputError(original, rounded, rows: rows, cols: cols, hessian: hessian)
    try w.assign(values: rounded)
    var entry: [String: JSONValue] = [
      "rtn": .number(base > 0 ? errRTN / base : 0), "gptq": .number(base > 0 ? errGPTQ / base : 0),
      "deadColumns": .number(Double(prepared.deadColumns)),
    ]
    entry["damping"] = prepared.damping.map { .number($0) } ?? .string("not positive definite: plain rounding")
    return .object(entry)
  }
}
