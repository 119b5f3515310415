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
/// (``StreamingStores``) straight from the element loop, at 64-byte aligned output vectors that
/// may straddle two blocks (``runStreamingChunk(_:_:_:_:_:_:)``), when the block size is a
/// multiple of 16; other block sizes keep normal stores.
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
  // Streaming needs 16-float vectors at 64-byte aligned output addresses; with blocks of a
  // multiple of 16 every such vector spans at most two blocks. Other block sizes (not NVFP4's or
  // MX's) keep normal stores.
  let streaming = n &* 4 >= streamingThreshold && blockSize & 15 == 0
  parallelChunks(total: blocks, grain: max(blockGroup, kernelGrain / blockSize)) { r in
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 &* (blockGroup &+ 1)) { scratch in
      let params = BlockParams(scratch.baseAddress!)
      if streaming {
        runStreamingChunk(rule, xs.value, os.value, r, blockSize, params)
      } else {
        runChunk(rule, xs.value, os.value, r, blockSize, params)
      }
    }
  }
}

/// Scratch rows of ``blockGroup`` + 1 floats: the lane parameters `a`, `b`, `c` and the block
/// maxima `m` of one group of blocks.
private struct BlockParams {
  let a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>
  let c: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>
  @inline(__always) init(_ base: UnsafeMutablePointer<Float>) {
    a = base
    b = base + (blockGroup &+ 1)
    c = base + 2 &* (blockGroup &+ 1)
    m = base + 3 &* (blockGroup &+ 1)
  }
  /// The three parameters of entry `j` as vectors.
  @inline(__always) func splat(_ j: Int) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
    (SIMD16(repeating: a[j]), SIMD16(repeating: b[j]), SIMD16(repeating: c[j]))
  }
}

/// Phase 1 for `count` consecutive blocks from `first`: block maxima into `p.m[at...]`, then the
/// lane parameters into `p.a/b/c[at...]` (16 blocks per vector where possible).
@inline(__always)
private func blockParams<R: BlockScaleRule>(
  _ rule: R, _ x: UnsafePointer<Float>, first: Int, count: Int, at: Int, _ blockSize: Int, _ p: BlockParams
) {
  var j = 0
  if blockSize & 15 == 0 {
    while j &+ 16 <= count {
      storeVector(blockMaxAbs16(x + (first &+ j) &* blockSize, blockSize), p.m + (at &+ j))
      j &+= 16
    }
  }
  while j < count {
    p.m[at &+ j] = blockMaxAbs(x + (first &+ j) &* blockSize, blockSize)
    j &+= 1
  }
  j = 0
  while j &+ 16 <= count {
    let (a, b, c) = rule.params(blockAmax: loadVector(p.m + (at &+ j)), firstBlock: first &+ j)
    storeVector(a, p.a + (at &+ j))
    storeVector(b, p.b + (at &+ j))
    storeVector(c, p.c + (at &+ j))
    j &+= 16
  }
  while j < count {
    let (a, b, c) = rule.params(blockAmax: p.m[at &+ j], block: first &+ j)
    p.a[at &+ j] = a
    p.b[at &+ j] = b
    p.c[at &+ j] = c
    j &+= 1
  }
}

/// Prefetches the blocks of the next group, 16 blocks per call, from block `j` of the current
/// group (`g0 ..< g0 + count`) on; `end` is the chunk's end.
@inline(__always)
private func prefetchAhead(_ x: UnsafePointer<Float>, _ j: Int, _ g0: Int, _ count: Int, _ end: Int, _ blockSize: Int) {
  let ahead = g0 &+ count &+ j
  let nextEnd = min(end, g0 &+ count &+ blockGroup)
  if j & 15 == 0 && ahead < nextEnd {
    prefetchLines(x + ahead &* blockSize, min(16, nextEnd &- ahead) &* blockSize)
  }
}

/// The blocks `r` with normal stores: per group, phase 1 then the elements from L1 block by block.
@inline(__always)
private func runChunk<R: BlockScaleRule>(
  _ rule: R, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ r: Range<Int>, _ blockSize: Int,
  _ p: BlockParams
) {
  let k = rule.kernel
  var g0 = r.lowerBound
  while g0 < r.upperBound {
    let count = min(blockGroup, r.upperBound &- g0)
    blockParams(rule, x, first: g0, count: count, at: 0, blockSize, p)
    for j in 0..<count {
      prefetchAhead(x, j, g0, count, r.upperBound, blockSize)
      let lo = (g0 &+ j) &* blockSize
      let src = x + lo, dst = out + lo
      let (va, vb, vc) = p.splat(j)
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
    g0 &+= count
  }
}

/// The blocks `r` (block size a multiple of 16) with streaming stores (``StreamingStores``)
/// straight from the element loop; NVFP4's 16 and MX's 32 are compiled as constants.
///
/// Not inlined on purpose: in the worker closure of ``runBlockKernel(_:_:_:blockSize:)`` the
/// inline C streaming store (``streamVector(_:_:)``) stayed an out-of-line call per vector, with
/// every vector register spilled around it (the same happened to the C prefetch, see
/// ``prefetchLines(_:_:)``); in a plain function it is one `vmovntps`. An earlier form staged each
/// group's output in an L1 buffer and copied it out in a burst of such calls.
@inline(never)
private func runStreamingChunk<R: BlockScaleRule>(
  _ rule: R, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ r: Range<Int>, _ blockSize: Int,
  _ p: BlockParams
) {
  switch blockSize {
  case 16: streamBlocks(rule, x, out, r, 16, p)
  case 32: streamBlocks(rule, x, out, r, 32, p)
  default: streamBlocks(rule, x, out, r, blockSize, p)
  }
  streamFence()
}

/// The blocks `r` (block size a multiple of 16) with streaming stores.
///
/// The output's first 64-byte boundary is `h` elements into the chunk (`0 ..< 16`); those `h`
/// elements get a normal partial store, and from there every 16-float vector starts on a line
/// boundary. Each block owns the vectors starting at its elements `h`, `h + 16`, …; all but the
/// last lie inside the block, and the last one's first `16 - h` lanes are this block's and its
/// other `h` the next block's, so that vector takes its parameters lane-wise from the two blocks
/// (one select per parameter). The next block's parameters must be known before this block's
/// last vector, so phase 1 runs one block ahead: a group's entries `1 ... count` are blocks
/// `g0 + 1 ... g0 + count` (entry 0, block `g0`, is carried over from the previous group). That
/// also keeps `out == x` correct: every block's maximum is read before the vector that
/// overwrites its first `h` elements is stored. At the chunk's end the last vector is a partial
/// normal store of `16 - h` elements (the elements after it belong to another chunk).
@inline(__always)
private func streamBlocks<R: BlockScaleRule>(
  _ rule: R, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ r: Range<Int>, _ blockSize: Int,
  _ p: BlockParams
) {
  let k = rule.kernel
  let vectorsPerBlock = blockSize >> 4
  let h = elementsToLineBoundary(out + r.lowerBound &* blockSize)
  let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
  let own = lanes .< SIMD16<Int32>(repeating: Int32(16 &- h))
  blockParams(rule, x, first: r.lowerBound, count: 1, at: 0, blockSize, p)
  if h > 0 {
    let (va, vb, vc) = p.splat(0)
    let lo = r.lowerBound &* blockSize
    storePartial(k.apply(loadPartial(x + lo, h), va, vb, vc), out + lo, h)
  }
  // Streams a block's vectors but its last one (which may straddle into the next block) and
  // returns that vector's offset.
  @inline(__always) func streamAllButLast(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
    _ va: SIMD16<Float>, _ vb: SIMD16<Float>, _ vc: SIMD16<Float>
  ) -> Int {
    var i = 0
    for _ in 1..<vectorsPerBlock {
      streamVector(k.apply(loadVector(src + i), va, vb, vc), dst + i)
      i &+= 16
    }
    return i
  }
  var g0 = r.lowerBound
  while g0 < r.upperBound {
    let count = min(blockGroup, r.upperBound &- g0)
    // Entries 1 ... count: the next `count` blocks, as far as the chunk has them.
    let ahead = min(count, r.upperBound &- g0 &- 1)
    blockParams(rule, x, first: g0 &+ 1, count: ahead, at: 1, blockSize, p)
    let last = ahead < count ? count &- 1 : count  // the chunk's last block, handled after the loop
    for j in 0..<last {
      prefetchAhead(x, j, g0, count, r.upperBound, blockSize)
      let lo = (g0 &+ j) &* blockSize &+ h
      let src = x + lo, dst = out + lo
      let (va, vb, vc) = p.splat(j)
      let i = streamAllButLast(src, dst, va, vb, vc)
      let (na, nb, nc) = p.splat(j &+ 1)
      let wa = laneSelect(own, va, na), wb = laneSelect(own, vb, nb), wc = laneSelect(own, vc, nc)
      streamVector(k.apply(loadVector(src + i), wa, wb, wc), dst + i)
    }
    if last < count {
      let lo = (g0 &+ last) &* blockSize &+ h
      let src = x + lo, dst = out + lo
      let (va, vb, vc) = p.splat(last)
      let i = streamAllButLast(src, dst, va, vb, vc)
      if h == 0 {
        streamVector(k.apply(loadVector(src + i), va, vb, vc), dst + i)
      } else {
        storePartial(k.apply(loadPartial(src + i, 16 &- h), va, vb, vc), dst + i, 16 &- h)
      }
    } else {
      p.a[0] = p.a[count]
      p.b[0] = p.b[count]
      p.c[0] = p.c[count]
    }
    g0 &+= count
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
