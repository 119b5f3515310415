/// Plain scalar reference implementations of every vectorized kernel, written independently
/// (library rounding via `Float.rounded(.toNearestOrEven)`, minifloat rounding by nearest-grid
/// search over all codes). Tests check the fast kernels against these bit for bit.
package enum ReferenceKernels {
  /// Non-negative finite values of a grid in increasing order (code order).
  package static let e4m3Grid: [Float] = (0..<127).map { FP8.decodeE4M3(UInt8($0)) }
  package static let e5m2Grid: [Float] = (0..<124).map { FP8.decodeE5M2(UInt8($0)) }

  /// Nearest grid value to `|v|` (ties to the even index), with the sign of `v`; NaN stays NaN.
  package static func nearest(_ v: Float, grid: [Float]) -> Float {
    if v.isNaN { return v }
    let a = v.magnitude
    // Binary search for the first grid value >= a, then pick the closer neighbour.
    var lo = 0, hi = grid.count - 1
    if a >= grid[hi] { return v.sign == .minus ? -grid[hi] : grid[hi] }
    while lo < hi {
      let mid = (lo + hi) / 2
      if grid[mid] < a { lo = mid + 1 } else { hi = mid }
    }
    var best = lo
    if lo > 0 {
      let below = Double(a) - Double(grid[lo - 1]), above = Double(grid[lo]) - Double(a)
      if below < above || (below == above && (lo - 1) % 2 == 0) { best = lo - 1 }
    }
    return v.sign == .minus ? -grid[best] : grid[best]
  }

  package static func roundE4M3(_ v: Float) -> Float { nearest(min(max(v, -448), 448), grid: e4m3Grid) }
  package static func roundE5M2(_ v: Float) -> Float { nearest(min(max(v, -57344), 57344), grid: e5m2Grid) }
  package static func roundE2M1(_ v: Float) -> Float { nearest(min(max(v, -6), 6), grid: FP4E2M1.grid) }

  static func rint(_ v: Float) -> Float { v.rounded(.toNearestOrEven) }
  static func clamp(_ v: Float, _ lo: Float, _ hi: Float) -> Float { v > hi ? hi : (v < lo ? lo : v) }

  package static func modelOptInt(
    _ x: [Float], shape: [Int], format: NumberFormat, granularity: QuantGranularity, amax: [Float]?
  ) throws(QuantizationError) -> (out: [Float], mask: [UInt8]) {
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: granularity)
    let am = amax ?? groupMax(x, layout)
    var out = [Float](repeating: 0, count: x.count), mask = [UInt8](repeating: 0, count: x.count)
    for i in 0..<x.count {
      let a = am[layout.paramIndex(i)]
      let scale = format.maxBound / a
      let tiny = a <= 0x1p-24
      let q = clamp(rint(x[i] * (tiny ? 0 : scale)), format.minBound, format.maxBound)
      out[i] = q / (tiny ? 1 : scale)
      mask[i] = abs(x[i]) <= a ? 1 : 0
    }
    return (out, mask)
  }

  package static func torchAffine(
    _ x: [Float], shape: [Int], axis: Int?, scales: [Float], zeroPoints: [Int], quantMin: Int, quantMax: Int
  ) throws(QuantizationError) -> (out: [Float], mask: [UInt8]) {
    try torchAffine(
      x, shape: shape, granularity: axis.map { .perChannel(axis: $0) } ?? .perTensor, scales: scales,
      zeroPoints: zeroPoints, quantMin: quantMin, quantMax: quantMax)
  }

  package static func torchAffine(
    _ x: [Float], shape: [Int], granularity: QuantGranularity, scales: [Float], zeroPoints: [Int], quantMin: Int,
    quantMax: Int
  ) throws(QuantizationError) -> (out: [Float], mask: [UInt8]) {
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: granularity)
    var out = [Float](repeating: 0, count: x.count), mask = [UInt8](repeating: 0, count: x.count)
    for i in 0..<x.count {
      let p = layout.paramIndex(i)
      let s = scales[p], zp = Float(zeroPoints[p])
      let q = rint(x[i] * (1 / s)) + zp
      out[i] = (clamp(q, Float(quantMin), Float(quantMax)) - zp) * s
      mask[i] = (q >= Float(quantMin) && q <= Float(quantMax)) ? 1 : 0
    }
    return (out, mask)
  }

  package static func fp8ModelOpt(
    _ x: [Float], shape: [Int], format: NumberFormat, granularity: QuantGranularity, amax: [Float]?
  ) throws(QuantizationError) -> [Float] {
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: granularity)
    let am = amax ?? groupMax(x, layout)
    let limit = format.maxBound
    return (0..<x.count).map { i in
      let a = am[layout.paramIndex(i)]
      guard a > 0x1p-24 && a.isFinite else { return x[i] * 0 * 0 }
      let scale = (1 / a) * limit
      let y = clamp(x[i] * scale, -limit, limit)
      let r = format == .fp8E4M3 ? roundE4M3(y) : roundE5M2(y)
      return r * (1 / scale)
    }
  }

  package static func nvfp4(_ x: [Float], shape: [Int], globalAmax: Float?, blockSize: Int = 16)
    throws(QuantizationError) -> (out: [Float], blockScales: [Float])
  {
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: .perBlock(size: blockSize))
    let gAmax = globalAmax ?? x.reduce(0) { max($0, abs($1)) }
    let gs = gAmax / 2688
    var out = [Float](repeating: 0, count: x.count)
    var scales = [Float](repeating: 0, count: layout.paramCount)
    guard gAmax > 0, gAmax.isFinite, gs > 0 else { return (out, scales) }
    for b in 0..<layout.paramCount {
      let block = x[(b * blockSize)..<((b + 1) * blockSize)]
      let bmax = block.reduce(0) { max($0, abs($1)) }
      let raw = bmax / (6 * gs)
      let t = raw == 0 ? 1 : clamp(raw, 0x1p-9, 448)
      let s8 = roundE4M3(t)
      scales[b] = s8
      let s = s8 * gs
      for i in (b * blockSize)..<((b + 1) * blockSize) {
        let m = roundE2M1(abs(x[i]) / s)
        out[i] = m == 0 ? 0 : (x[i] < 0 ? -(m * s) : m * s)
      }
    }
    return (out, scales)
  }

  package static func mx(_ x: [Float], shape: [Int], format: MXFormat, blockSize: Int = 32)
    throws(QuantizationError) -> (out: [Float], codes: [UInt8])
  {
    let layout = try resolveLayout(shape: shape, bufferCount: x.count, granularity: .perBlock(size: blockSize))
    var out = [Float](repeating: 0, count: x.count)
    var codes = [UInt8](repeating: 0, count: layout.paramCount)
    for b in 0..<layout.paramCount {
      let range = (b * blockSize)..<((b + 1) * blockSize)
      let bmax = x[range].reduce(0) { max($0, abs($1)) }
      // ceil(log2(v)) by doubling/halving a power of two: independent of the fast bit method.
      let v = Double(bmax / format.elementMax)
      var e = 0
      if !(v > 0) {
        e = -127  // zero (or NaN) block, as MXFormat.sharedExponent
      } else if !v.isFinite {
        e = 127  // an infinite block: the largest scale (the doubling loop below would not end)
      } else {
        var p = 1.0
        while p < v { p *= 2; e += 1 }
        while p / 2 >= v { p /= 2; e -= 1 }
        e = min(max(e, -127), 127)
      }
      codes[b] = UInt8(e + 127)
      let scale = pow2(e)
      for i in range {
        let y = clamp(x[i] / scale, -format.elementMax, format.elementMax)
        let r: Float
        switch format {
        case .mxfp4: r = roundE2M1(y)
        case .mxfp8: r = roundE4M3(y)
        case .mxfp8E5M2: r = roundE5M2(y)
        }
        out[i] = r * scale
      }
    }
    return (out, codes)
  }

  static func pow2(_ e: Int) -> Float {
    var v: Float = 1
    if e >= 0 { for _ in 0..<e { v *= 2 } } else { for _ in 0..<(-e) { v /= 2 } }
    return v
  }

  static func groupMax(_ x: [Float], _ layout: ParamLayout) -> [Float] {
    var m = [Float](repeating: 0, count: layout.paramCount)
    for i in 0..<x.count {
      let p = layout.paramIndex(i)
      if abs(x[i]) > m[p] { m[p] = abs(x[i]) }
    }
    return m
  }
}
