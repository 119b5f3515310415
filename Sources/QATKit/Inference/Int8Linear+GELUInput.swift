internal import CQATKitKernels

extension Int8Linear {
  /// Input codes (+128, rows of ``depth`` bytes) of `gelu(x)` for `rows × inFeatures` floats `x`,
  /// in one pass: each thread runs ``GELUKernels`` on a few rows into a small buffer that stays
  /// in L1/L2 and quantizes them from there, so the activation is never written out in full.
  /// The same values as `quantizeInput(Tensor(x).gelu().storage, …)` (same kernels, applied per row).
  package func quantizeGELUInput(
    _ x: UnsafePointer<Float>, rows: Int, isa: Int8InstructionSet, into codes: UnsafeMutablePointer<UInt8>
  ) {
    guard rows > 0, inFeatures > 0 else { return }
    let k = inFeatures, depth = depth, multiplier = inputMultiplier, minCode = Int32(inputMinCode)
    let isaCode = Int32(isa.rawValue)
    // About 32 KiB of floats per step.
    let step = Swift.max(1, 8192 / k)
    let sx = SendableConstPointer(x), sc = SendablePointer(codes)
    Parallel.forRanges(rows, grain: Swift.max(1, 65_536 / k)) { range in
      withUnsafeTemporaryAllocation(of: Float.self, capacity: step * k) { buffer in
        let g = buffer.baseAddress!
        var r = range.lowerBound
        while r < range.upperBound {
          let n = Swift.min(step, range.upperBound - r)
          for i in 0..<n { GELUKernels.forwardRange(0..<k, sx.base + (r + i) * k, g + i * k) }
          qk_quantize_u8(
            isaCode, g, Int32(n), Int32(k), Int32(k), multiplier, minCode, sc.base + r * depth, Int32(depth), Int32(depth))
          r += n
        }
      }
    }
  }
}
