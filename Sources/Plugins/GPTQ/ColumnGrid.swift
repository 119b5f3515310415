import QATKit

/// The rounding grid of one weight `[rows, cols]` under a calibrated integer weight quantizer,
/// element by element, so GPTQ can round one column at a time with the ranges the quantizer
/// keeps: `q = clamp(rint(w · s), min, max) / s` with `s = maxBound / amax` of the element's
/// range group (0 and a divisor of 1 for `amax ≤ 2⁻²⁴`): ModelOpt's integer fake quantization,
/// the same float operations as the quantizer's kernel, so the quantizer reproduces a rounded
/// weight bit for bit.
struct ColumnGrid {
  let rows: Int
  let cols: Int
  /// Multiplier per range group.
  let scale: [Float]
  /// Divisor per range group.
  let divisor: [Float]
  let low: Float
  let high: Float
  let kind: Kind

  enum Kind {
    case tensor
    case row
    case column
    case block(Int)
  }

  /// The grid of `quantizer` over a weight of `shape`.
  ///
  /// - Throws: ``QuantizerError/calibrationFailed(path:_:)`` (path empty) for a quantizer GPTQ
  ///   cannot round with: not the built-in one, not an integer format, dynamic or uncalibrated.
  init(_ quantizer: any Quantizer, shape: [Int]) throws {
    func fail(_ m: String) -> QuantizerError { .calibrationFailed(path: "", m) }
    guard let q = quantizer as? TensorQuantizer else {
      throw fail("gptq rounds with the built-in 'static' weight quantizer, not '\(quantizer.attributes.algorithm)'")
    }
    let a = q.attributes
    guard case .int(let bits, let signed) = a.format else {
      throw fail("gptq rounds integer weights (int2…int8, per tensor, channel or block); this quantizer is \(a.format)")
    }
    guard !a.dynamic, let amax = q.amax, shape.count == 2 else {
      throw fail("gptq needs a calibrated static range of a 2-D weight")
    }
    rows = shape[0]
    cols = shape[1]
    let maxBound = a.format.maxBound
    high = maxBound
    low = signed ? (a.narrowRange ? -maxBound : -maxBound - 1) : 0
    _ = bits
    switch q.amaxGranularity ?? .perTensor {
    case .perTensor: kind = .tensor
    case .perChannel(let axis):
      let ax = axis < 0 ? axis + 2 : axis
      kind = ax == 0 ? .row : .column
    case .perBlock(let b): kind = .block(b)
    }
    var s: [Float] = [], d: [Float] = []
    for v in amax.scalars {
      if v <= 0x1p-24 {
        s.append(0)
        d.append(1)
      } else {
        let m = maxBound / v
        s.append(m)
        d.append(m)
      }
    }
    scale = s
    divisor = d
  }

  /// The range group of element `(row, col)` (original column order).
  @inline(__always) func group(_ row: Int, _ col: Int) -> Int {
    switch kind {
    case .tensor: 0
    case .row: row
    case .column: col
    case .block(let b): row * (cols / b) + col / b
    }
  }

  /// `w` rounded on the grid of element `(row, col)`.
  @inline(__always) func round(_ w: Float, _ row: Int, _ col: Int) -> Float {
    let g = group(row, col)
    var q = (w * scale[g]).rounded(.toNearestOrEven)
    q = q > high ? high : q
    q = q < low ? low : q
    return q / divisor[g]
  }
}
