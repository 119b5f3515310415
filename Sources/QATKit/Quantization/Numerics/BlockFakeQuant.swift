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
package func runBlockKernel<R: BlockScaleRule>(
  _ rule: R, _ x: UnsafeBufferPointer<Float>, _ out: UnsafeMutableBufferPointer<Float>, blockSize: Int
) {
  let n = x.count
  guard n > 0, blockSize > 0, let xb = x.baseAddress, let ob = out.baseAddress else { return }
  let blocks = n / blockSize
  let xs = SendableBox(xb), os = SendableBox(ob)
  parallelChunks(total: blocks, grain: max(blockGroup, kernelGrain / blockSize)) { r in
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 &* blockGroup) { scratch in
      let pa = scratch.baseAddress!, pb = pa + blockGroup, pc = pb + blockGroup
      var g0 = r.lowerBound
      while g0 < r.upperBound {
        let count = min(blockGroup, r.upperBound &- g0)
        // Phase 1: block maxima and lane parameters.
        for j in 0..<count {
          let src = xs.value + (g0 &+ j) &* blockSize
          let (a, b, c) = rule.params(blockAmax: blockMaxAbs(src, blockSize), block: g0 &+ j)
          pa[j] = a
          pb[j] = b
          pc[j] = c
        }
        // Phase 2: the elements, from L1.
        let k = rule.kernel
        for j in 0..<count {
          let lo = (g0 &+ j) &* blockSize
          let src = xs.value + lo, dst = os.value + lo
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
        g0 &+= count
      }
    }
  }
}

/// Blocks per group of ``runBlockKernel(_:_:_:blockSize:)``.
package let blockGroup = 256

/// `max|x|` of one block, NaN ignored (``Amax`` semantics), with the 16-element case in one vector.
@inline(__always)
private func blockMaxAbs(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
  if n == 16 {
    let zero = SIMD16<Float>(repeating: 0)
    let av = absVector(loadVector(p))
    return horizontalMax(zero.replacing(with: av, where: av .> zero))
  }
  return Amax.spanMax(p, n)
}
