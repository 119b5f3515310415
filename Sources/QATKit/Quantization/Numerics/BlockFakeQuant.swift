/// How a block-scaled format (NVFP4, MX) turns a block's `max|x|` into the lane parameters of
/// its element kernel, for the fused single-pass sweep ``runBlockKernel(_:_:_:blockSize:)``.
package protocol BlockScaleRule: Sendable {
  /// The element kernel applied to the block with the parameters from ``params(blockAmax:block:)``.
  associatedtype Kernel: LaneKernel
  /// The element kernel.
  var kernel: Kernel { get }
  /// The `(a, b, c)` lane parameters of block `block` whose `max|x|` (NaN ignored, `0` for an
  /// all-zero block) is `blockAmax`. May record per-block side outputs (scales, codes); each
  /// block is visited exactly once, blocks in parallel.
  func params(blockAmax: Float, block: Int) -> (a: Float, b: Float, c: Float)
  /// ``params(blockAmax:block:)`` for the 16 blocks `firstBlock ..< firstBlock + 16` at once
  /// (lane `i` is block `firstBlock + i`), bit-identical to 16 scalar calls, side outputs included.
  func params(blockAmax: SIMD16<Float>, firstBlock: Int) -> (a: SIMD16<Float>, b: SIMD16<Float>, c: SIMD16<Float>)
}

/// Fake-quantizes contiguous blocks of `blockSize` elements in one sweep over memory. Blocks are
/// taken in groups of ``blockGroup`` (16 KiB for NVFP4, so the group stays in L1): first every
/// block's `max|x|` and lane parameters, then the group's elements. Splitting the two phases lets
/// the CPU overlap independent blocks (the fully fused per-block form measured 2x slower: its long
/// max → scale → quantize dependency chain serialized), and DRAM is still read once.
///
/// The block maximum is the value ``Amax/maxAbs(_:layout:)`` computes (maximum over non-NaN
/// `|x|`, `0` when none), so results are bit-identical to the two-pass form (block amax first,
/// then ``runLaneKernel(_:_:_:mask:layout:params:)``).
///
/// `x.count` must be a multiple of `blockSize` (callers validate the layout); `out` may be the
/// same buffer as `x`.
///
/// Outputs of at least `streamingThreshold` bytes are written with streaming stores
/// (``StreamingStores``): each group's elements go to an aligned staging buffer in L1 first and
/// are streamed out from there (the output's alignment need not match the blocks').
package func runBlockKernel<R: BlockScaleRule>(
  _ rule: R, _ x: UnsafeBufferPointer<Float>, _ out: UnsafeMutableBufferPointer<Float>, blockSize: Int,
  streamingThreshold: Int = StreamingStores.threshold
) {
  guard x.count > 0, blockSize > 0, x.baseAddress != nil, out.baseAddress != nil else { return }
  // The common block sizes as constants, so the element loop is unrolled per block.
  switch blockSize {
  case 16: runBlockKernel(rule, x, out, constantBlockSize: 16, streamingThreshold: streamingThreshold)
  case 32: runBlockKernel(rule, x, out, constantBlockSize: 32, streamingThreshold: streamingThreshold)
  default: runBlockKernel(rule, x, out, constantBlockSize: blockSize, streamingThreshold: streamingThreshold)
  }
}

@inline(__always)
private func runBlockKernel<R: BlockScaleRule>(
  _ rule: R, _ x: UnsafeBufferPointer<Float>, _ out: UnsafeMutableBufferPointer<Float>, constantBlockSize blockSize: Int,
  streamingThreshold: Int
) {
  let n = x.count
  let xb = x.baseAddress!, ob = out.baseAddress!
  let blocks = n / blockSize
  let xs = SendableBox(xb), os = SendableBox(ob)
  let streaming = n &* 4 >= streamingThreshold
  parallelChunks(total: blocks, grain: max(blockGroup, kernelGrain / blockSize)) { r in
    let stage = streaming ? UnsafeMutableRawPointer.allocate(byteCount: blockGroup &* blockSize &* 4, alignment: 64) : nil
    defer {
      if let stage {
        stage.deallocate()
        streamFence()
      }
    }
    let staged = stage?.bindMemory(to: Float.self, capacity: blockGroup &* blockSize)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 &* blockGroup) { scratch in
      let pa = scratch.baseAddress!, pb = pa + blockGroup, pc = pb + blockGroup, pm = pc + blockGroup
      var g0 = r.lowerBound
      while g0 < r.upperBound {
        let count = min(blockGroup, r.upperBound &- g0)
        // Phase 1: block maxima, then the lane parameters 16 blocks per vector (the scale
        // arithmetic is as long per block as the elements' own, so it is vectorized too).
        var j = 0
        if blockSize & 15 == 0 {
          while j &+ 16 <= count {
            storeVector(blockMaxAbs16(xs.value + (g0 &+ j) &* blockSize, blockSize), pm + j)
            j &+= 16
          }
        }
        while j < count {
          pm[j] = blockMaxAbs(xs.value + (g0 &+ j) &* blockSize, blockSize)
          j &+= 1
        }
        j = 0
        while j &+ 16 <= count {
          let (a, b, c) = rule.params(blockAmax: loadVector(pm + j), firstBlock: g0 &+ j)
          storeVector(a, pa + j)
          storeVector(b, pb + j)
          storeVector(c, pc + j)
          j &+= 16
        }
        while j < count {
          let (a, b, c) = rule.params(blockAmax: pm[j], block: g0 &+ j)
          pa[j] = a
          pb[j] = b
          pc[j] = c
          j &+= 1
        }
        // Phase 2: the elements, from L1 (into the staging buffer when streaming), while the next
        // group's lines are prefetched: phase 1 of that group then finds them in L2 instead of
        // waiting for memory with the arithmetic units idle.
        let k = rule.kernel
        let nextEnd = min(r.upperBound, g0 &+ count &+ blockGroup)
        for j in 0..<count {
          let ahead = g0 &+ count &+ j
          if j & 15 == 0 && ahead < nextEnd {
            prefetchLines(xs.value + ahead &* blockSize, min(16, nextEnd &- ahead) &* blockSize)
          }
          let lo = (g0 &+ j) &* blockSize
          let src = xs.value + lo, dst = staged.map { $0 + j &* blockSize } ?? os.value + lo
          let va = SIMD16<Float>(repeating: pa[j]), vb = SIMD16<Float>(repeating: pb[j])
          let vc = SIMD16<Float>(repeating: pc[j])
          var i = 0
          while i &+ 16 <= blockSize {
            storeVector(k.apply(loadVector(src + i), va, vb, vc), dst + i)
            i &+= 16
          }
          if i < blockSize {
            let rest = blockSize &- i
            storePartial(k.apply(loadPartial(src + i, rest), va, vb, vc), dst + i, rest)
          }
        }
        if let staged { streamCopy(staged, to: os.value + g0 &* blockSize, count &* blockSize) }
        g0 &+= count
      }
    }
  }
}

/// Copies `n` floats to `dst` with streaming stores from its first 64-byte boundary on (normal
/// stores before it and for the last partial line).
@inline(__always)
private func streamCopy(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, _ n: Int) {
  let head = min(n, elementsToLineBoundary(dst))
  var i = 0
  while i < head {
    dst[i] = src[i]
    i &+= 1
  }
  while i &+ 16 <= n {
    streamVector(loadVector(src + i), dst + i)
    i &+= 16
  }
  while i < n {
    dst[i] = src[i]
    i &+= 1
  }
}

/// Prefetches the lines of `count` floats from `p` into L2. Not inlined on purpose: called once
/// per 16 blocks, and where the element loop is unrolled for a constant block size the C
/// prefetch was otherwise left as a call (with `vzeroupper`) per block.
@inline(never)
private func prefetchLines(_ p: UnsafePointer<Float>, _ count: Int) {
  var i = 0
  while i < count {
    prefetchLine(p + i)
    i &+= 16
  }
}

/// Blocks per group of ``runBlockKernel(_:_:_:blockSize:)``.
package let blockGroup = 256

/// `max|x|` of one block, NaN ignored (``Amax`` semantics); blocks of a multiple of 16 elements
/// (NVFP4's 16, MX's 32) stay in vectors. The maximum is taken on the bit patterns of `|x|`
/// (non-negative floats order like their bits) with NaN lanes zeroed, using unsigned compares
/// and bit selects only (the generic `replacing(with:where:)`/`pointwiseMax` split into xmm
/// pieces or calls).
@inline(__always)
private func blockMaxAbs(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
  guard n & 15 == 0 else { return Amax.spanMax(p, n) }
  var v = SIMD16<UInt32>(repeating: 0)
  var i = 0
  while i < n {
    let mag = unsafeBitCast(loadVector(p + i), to: SIMD16<UInt32>.self) & 0x7FFF_FFFF
    let keep = unsafeBitCast(mag .<= SIMD16<UInt32>(repeating: 0x7F80_0000), to: SIMD16<UInt32>.self)
    let clean = mag & keep
    v = v ^ ((clean ^ v) & unsafeBitCast(clean .> v, to: SIMD16<UInt32>.self))
    i &+= 16
  }
  let a8 = v.lowHalf, b8 = v.highHalf
  let h8 = a8 ^ ((b8 ^ a8) & unsafeBitCast(b8 .> a8, to: SIMD8<UInt32>.self))
  let a4 = h8.lowHalf, b4 = h8.highHalf
  let h4 = a4 ^ ((b4 ^ a4) & unsafeBitCast(b4 .> a4, to: SIMD4<UInt32>.self))
  let h2 = h4[0] > h4[2] ? h4[0] : h4[2], h3 = h4[1] > h4[3] ? h4[1] : h4[3]
  return Float(bitPattern: h2 > h3 ? h2 : h3)
}

/// `max|x|` of 16 consecutive blocks of `n` elements (`n` a multiple of 16), lane `i` for block
/// `i`, NaN ignored: bit-identical to 16 ``blockMaxAbs(_:_:)`` calls.
///
/// Works on the bit patterns of `|x|` as signed integers (non-negative floats order like their
/// bits, and every NaN pattern is above infinity's `0x7F80_0000`). Each block is folded to one
/// vector, then the 16 vectors are reduced together by a transposing tree: `max(evens, odds)`
/// of two vectors halves the lanes per block and packs two blocks into one vector, so 15
/// pairwise steps replace 16 separate horizontal reductions (which dominated the block formats'
/// first phase). A block whose maximum comes out as a NaN pattern is recomputed with NaN
/// ignored; that rare check replaces cleaning every element.
@inline(__always)
private func blockMaxAbs16(_ p: UnsafePointer<Float>, _ n: Int) -> SIMD16<Float> {
  @inline(__always)
  func magnitude(_ b: UnsafePointer<Float>) -> SIMD16<Int32> {
    unsafeBitCast(loadVector(b), to: SIMD16<Int32>.self) & 0x7FFF_FFFF
  }
  @inline(__always)
  func maximum(_ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
    let d = b &- a  // no overflow: both are in 0...0x7FFF_FFFF
    return a &+ (d & ~(d &>> 31))
  }
  @inline(__always)
  func fold(_ b: UnsafePointer<Float>) -> SIMD16<Int32> {
    var v = magnitude(b)
    var i = 16
    while i < n {
      v = maximum(v, magnitude(b + i))
      i &+= 16
    }
    return v
  }
  @inline(__always)
  func pair(_ a: SIMD16<Int32>, _ b: SIMD16<Int32>) -> SIMD16<Int32> {
    maximum(SIMD16(lowHalf: a.evenHalf, highHalf: b.evenHalf), SIMD16(lowHalf: a.oddHalf, highHalf: b.oddHalf))
  }
  let a0 = pair(fold(p), fold(p + n)), a1 = pair(fold(p + 2 &* n), fold(p + 3 &* n))
  let a2 = pair(fold(p + 4 &* n), fold(p + 5 &* n)), a3 = pair(fold(p + 6 &* n), fold(p + 7 &* n))
  let a4 = pair(fold(p + 8 &* n), fold(p + 9 &* n)), a5 = pair(fold(p + 10 &* n), fold(p + 11 &* n))
  let a6 = pair(fold(p + 12 &* n), fold(p + 13 &* n)), a7 = pair(fold(p + 14 &* n), fold(p + 15 &* n))
  let b0 = pair(a0, a1), b1 = pair(a2, a3), b2 = pair(a4, a5), b3 = pair(a6, a7)
  var m = pair(pair(b0, b1), pair(b2, b3))
  if any(m .> SIMD16<Int32>(repeating: 0x7F80_0000)) {
    for i in 0..<16 where m[i] > 0x7F80_0000 {
      m[i] = Int32(bitPattern: blockMaxAbs(p + i &* n, n).bitPattern)
    }
  }
  return unsafeBitCast(m, to: SIMD16<Float>.self)
}
