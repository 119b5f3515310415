/// A pointer (or any value) that is shared read-only or disjointly written across the worker
/// threads of ``parallelChunks(total:grain:_:)``.
package struct SendableBox<Value>: @unchecked Sendable {
  package let value: Value
  @inline(__always) package init(_ value: Value) { self.value = value }
}

/// Elements processed per worker chunk; smaller jobs run on the calling thread.
package let kernelGrain = 1 << 16

/// Runs `body` over `0..<total` split into chunks of about `grain` items, on all cores when there
/// is more than one chunk. Every index is visited exactly once; chunks are disjoint.
///
/// The threads are ``WorkerPool/shared``'s (the caller starts at once, a worker still spinning
/// from the previous call joins within a microsecond); chunks are claimed dynamically, so a
/// thread that is preempted does not hold up the others.
@inline(__always)
package func parallelChunks(total: Int, grain: Int, _ body: (Range<Int>) -> Void) {
  guard total > 0 else { return }
  let g = max(1, grain)
  let chunks = (total + g - 1) / g
  if chunks <= 1 {
    body(0..<total)
    return
  }
  withoutActuallyEscaping(body) { body in
    let box = SendableBox(body)
    let next = TaskCounter()
    WorkerPool.shared.run(width: chunks) { _ in
      while true {
        let c = next.claim()
        if c >= chunks { break }
        let lo = c &* g
        box.value(lo..<min(total, lo &+ g))
      }
    }
  }
}

@inline(__always)
package func loadVector(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
package func storeVector(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Stores a lane mask as 16 bytes (`1` = lane set). Lane by lane, which LLVM turns into one
/// truncating vector store; the generic `SIMD16<UInt8>(truncatingIfNeeded:)` stayed an
/// out-of-line call per 16 lanes.
@inline(__always)
package func storeMask(_ m: SIMDMask<SIMD16<Int32>>, _ p: UnsafeMutablePointer<UInt8>) {
  let wide = unsafeBitCast(m, to: SIMD16<UInt32>.self) &>> 31
  var bytes = SIMD16<UInt8>()
  for j in 0..<16 { bytes[j] = UInt8(truncatingIfNeeded: wide[j]) }
  UnsafeMutableRawPointer(p).storeBytes(of: bytes, as: SIMD16<UInt8>.self)
}

/// Loads `n < 16` floats into the low lanes of a zero vector.
@inline(__always)
package func loadPartial(_ p: UnsafePointer<Float>, _ n: Int) -> SIMD16<Float> {
  var v = SIMD16<Float>(repeating: 0)
  for j in 0..<n { v[j] = p[j] }
  return v
}

@inline(__always)
package func storePartial(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
  for j in 0..<n { p[j] = v[j] }
}

@inline(__always)
package func storePartialMask(_ m: SIMDMask<SIMD16<Int32>>, _ p: UnsafeMutablePointer<UInt8>, _ n: Int) {
  for j in 0..<n { p[j] = m[j] ? 1 : 0 }
}

/// An element-wise fake-quantization kernel on 16 lanes with three per-lane parameters
/// `a`, `b`, `c` (their meaning is kernel specific, e.g. scale, divisor, amax).
package protocol LaneKernel: Sendable {
  /// The fake-quantized values.
  func apply(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float>
  /// Lanes whose gradient is kept by the clipping STE.
  func keep(_ x: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>)
    -> SIMDMask<SIMD16<Int32>>
}

/// Parameters in structure-of-arrays form: `a[p] = values[p]`, `b[p] = values[P + p]`,
/// `c[p] = values[2P + p]`.
package struct LaneParams: Sendable {
  package var values: [Float]
  package let count: Int
  package init(count: Int) {
    self.count = count
    values = [Float](repeating: 0, count: 3 * count)
  }
  @inline(__always) package mutating func set(_ p: Int, _ a: Float, _ b: Float, _ c: Float) {
    values[p] = a
    values[count + p] = b
    values[2 * count + p] = c
  }
}

@inline(__always)
private func runSpan<K: LaneKernel>(
  _ k: K, _ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<UInt8>?,
  _ n: Int, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>, streaming: Bool
) {
  var i = 0
  if streaming {
    // Normal stores up to the output's first 64-byte boundary, then streaming stores (the mask
    // too when its position is 16-byte aligned there).
    let head = min(n, elementsToLineBoundary(o))
    if head > 0 { runPartial(k, x, o, m, head, a, b, c) }
    i = head
    let streamMasks = m.map { Int(bitPattern: $0 + head) & 15 == 0 } ?? false
    if let m {
      while i &+ 16 <= n {
        let v = loadVector(x + i)
        streamVector(k.apply(v, a, b, c), o + i)
        if streamMasks { streamMask(k.keep(v, a, b, c), m + i) } else { storeMask(k.keep(v, a, b, c), m + i) }
        i &+= 16
      }
    } else {
      while i &+ 16 <= n {
        streamVector(k.apply(loadVector(x + i), a, b, c), o + i)
        i &+= 16
      }
    }
  } else if let m {
    while i &+ 16 <= n {
      let v = loadVector(x + i)
      storeVector(k.apply(v, a, b, c), o + i)
      storeMask(k.keep(v, a, b, c), m + i)
      i &+= 16
    }
  } else {
    while i &+ 16 <= n {
      storeVector(k.apply(loadVector(x + i), a, b, c), o + i)
      i &+= 16
    }
  }
  if i < n { runPartial(k, x + i, o + i, m.map { $0 + i }, n &- i, a, b, c) }
}

/// Fewer than 16 elements, through partial vectors.
@inline(__always)
private func runPartial<K: LaneKernel>(
  _ k: K, _ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<UInt8>?,
  _ n: Int, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>
) {
  let v = loadPartial(x, n)
  storePartial(k.apply(v, a, b, c), o, n)
  if let m { storePartialMask(k.keep(v, a, b, c), m, n) }
}

@inline(__always)
private func runLanesRow<K: LaneKernel>(
  _ k: K, _ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<UInt8>?,
  _ n: Int, _ pa: UnsafePointer<Float>, _ pb: UnsafePointer<Float>, _ pc: UnsafePointer<Float>
) {
  var i = 0
  while i &+ 16 <= n {
    let v = loadVector(x + i)
    let a = loadVector(pa + i), b = loadVector(pb + i), c = loadVector(pc + i)
    storeVector(k.apply(v, a, b, c), o + i)
    if let m { storeMask(k.keep(v, a, b, c), m + i) }
    i &+= 16
  }
  if i < n {
    let rest = n &- i
    let v = loadPartial(x + i, rest)
    let a = loadPartial(pa + i, rest), b = loadPartial(pb + i, rest), c = loadPartial(pc + i, rest)
    storePartial(k.apply(v, a, b, c), o + i, rest)
    if let m { storePartialMask(k.keep(v, a, b, c), m + i, rest) }
  }
}

/// Runs a ``LaneKernel`` over a whole buffer in one sweep (output and optional STE mask written
/// together), splitting large buffers across cores. `out` may be the same buffer as `x`.
///
/// Outputs of at least `streamingThreshold` bytes are written with streaming stores
/// (``StreamingStores``); the values are the same either way.
package func runLaneKernel<K: LaneKernel>(
  _ k: K, _ x: UnsafeBufferPointer<Float>, _ out: UnsafeMutableBufferPointer<Float>,
  mask: UnsafeMutableBufferPointer<UInt8>?, layout: ParamLayout, params: LaneParams,
  streamingThreshold: Int = StreamingStores.threshold
) {
  let n = layout.count
  guard n > 0, let xb = x.baseAddress, let ob = out.baseAddress else { return }
  let streaming = n &* 4 >= streamingThreshold
  let xs = SendableBox(xb), os = SendableBox(ob), ms = SendableBox(mask?.baseAddress)
  let pcount = layout.paramCount
  params.values.withUnsafeBufferPointer { pv in
    let pp = SendableBox(pv.baseAddress!)
    switch layout.mode {
    case .uniform:
      let a = SIMD16<Float>(repeating: pv[0]), b = SIMD16<Float>(repeating: pv[1])
      let c = SIMD16<Float>(repeating: pv[2])
      parallelChunks(total: n, grain: kernelGrain) { r in
        let lo = r.lowerBound
        if streaming {
          runSpan(k, xs.value + lo, os.value + lo, ms.value.map { $0 + lo }, r.count, a, b, c, streaming: true)
          streamFence()
        } else {
          runSpan(k, xs.value + lo, os.value + lo, ms.value.map { $0 + lo }, r.count, a, b, c, streaming: false)
        }
      }
    case .segments(let length):
      let segments = (n + length - 1) / length
      parallelChunks(total: segments, grain: max(1, kernelGrain / length)) { r in
        let base = pp.value
        var p = r.lowerBound % pcount
        for s in r {
          defer {
            p &+= 1
            if p == pcount { p = 0 }
          }
          let lo = s &* length
          let a = SIMD16<Float>(repeating: base[p])
          let b = SIMD16<Float>(repeating: base[pcount &+ p])
          let c = SIMD16<Float>(repeating: base[2 &* pcount &+ p])
          let count = min(length, n &- lo)
          if streaming {
            runSpan(k, xs.value + lo, os.value + lo, ms.value.map { $0 + lo }, count, a, b, c, streaming: true)
          } else {
            runSpan(k, xs.value + lo, os.value + lo, ms.value.map { $0 + lo }, count, a, b, c, streaming: false)
          }
        }
        if streaming { streamFence() }
      }
    case .lanes:
      let rows = n / pcount
      parallelChunks(total: rows, grain: max(1, kernelGrain / pcount)) { r in
        let base = pp.value
        for row in r {
          let lo = row &* pcount
          runLanesRow(
            k, xs.value + lo, os.value + lo, ms.value.map { $0 + lo }, pcount,
            base, base + pcount, base + 2 &* pcount)
        }
      }
    }
  }
}

/// The largest lane (NaN lanes are ignored when `v` comes from a compare-and-select maximum).
@inline(__always)
package func horizontalMax(_ v: SIMD16<Float>) -> Float {
  var h8 = v.lowHalf
  h8 = h8.replacing(with: v.highHalf, where: v.highHalf .> h8)
  var h4 = h8.lowHalf
  h4 = h4.replacing(with: h8.highHalf, where: h8.highHalf .> h4)
  var h2 = h4.lowHalf
  h2 = h2.replacing(with: h4.highHalf, where: h4.highHalf .> h2)
  return h2[1] > h2[0] ? h2[1] : h2[0]
}

/// `2^e` for `e` in `-149...127`, built from bits.
@inline(__always)
package func exactPowerOfTwo(_ e: Int) -> Float {
  if e >= -126 { return Float(bitPattern: UInt32(e &+ 127) << 23) }
  return Float(bitPattern: UInt32(1) << UInt32(e &+ 149))
}
