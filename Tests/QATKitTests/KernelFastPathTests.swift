import Testing

import QATTestSupport

@testable import QATKit

/// The SIMD fake-quant kernels (the fast path: x86-64-v3 / v4 in release builds) against the
/// scalar `ReferenceKernels`, bit for bit. `swift test` (debug) checks the portable build;
/// `swift test -c release --filter Kernel` checks the same kernels as compiled for this CPU.
@Suite("Kernel fast paths are bit-identical to the reference kernels")
struct KernelFastPathTests {
  /// Values over many binades, with all-zero, tiny and huge blocks, an infinity and a NaN.
  static func awkwardValues(rows: Int, cols: Int, seed: UInt64) -> [Float] {
    var rng = RandomGenerator(seed: seed)
    var x = (0..<(rows * cols)).map { _ -> Float in
      let m = Float.random(in: -1..<1, using: &rng)
      let e = Int.random(in: -12...12, using: &rng)
      return m * Float(sign: .plus, exponent: e, significand: 1)
    }
    for j in 0..<min(cols, 48) { x[j] = 0 }  // leading all-zero blocks
    for j in 0..<min(cols, 16) { x[cols + j] = Float(j) * 0x1p-140 }  // subnormal block
    x[2 * cols + 3] = .infinity
    x[2 * cols + 5] = -.nan
    x[3 * cols + 1] = 3e38
    return x
  }

  /// Bitwise equality, NaN matching any NaN (payloads may differ between the two paths).
  static func mismatches(_ a: [Float], _ b: [Float]) -> [Int] {
    guard a.count == b.count else { return [-1] }
    return a.indices.filter { a[$0].bitPattern != b[$0].bitPattern && !(a[$0].isNaN && b[$0].isNaN) }
  }

  @Test("NVFP4 single-pass block kernel", arguments: [8, 16, 32, 48])
  func nvfp4(blockSize: Int) throws {
    let rows = 6, cols = 96
    let x = Self.awkwardValues(rows: rows, cols: cols, seed: UInt64(blockSize))
    for globalAmax: Float? in [nil, 2.5] {
      // Without a global amax the infinity makes the tensor's range infinite: all zeros.
      let ref = try ReferenceKernels.nvfp4(x, shape: [rows, cols], globalAmax: globalAmax, blockSize: blockSize)
      var out = [Float](repeating: .nan, count: x.count)
      var scales = [Float](repeating: .nan, count: x.count / blockSize)
      try x.withUnsafeBufferPointer { xb in
        try out.withUnsafeMutableBufferPointer { ob in
          try scales.withUnsafeMutableBufferPointer { sb in
            _ = try NVFP4.fakeQuant(
              xb, shape: [rows, cols], globalAmax: globalAmax, blockSize: blockSize, into: ob, blockScales: sb)
          }
        }
      }
      #expect(Self.mismatches(out, ref.out).isEmpty, "block \(blockSize) amax \(String(describing: globalAmax))")
      #expect(Self.mismatches(scales, ref.blockScales).isEmpty)
      // In place (out aliases x) gives the same result.
      var inPlace = x
      try inPlace.withUnsafeMutableBufferPointer { b in
        _ = try NVFP4.fakeQuant(
          UnsafeBufferPointer(b), shape: [rows, cols], globalAmax: globalAmax, blockSize: blockSize, into: b)
      }
      #expect(Self.mismatches(inPlace, ref.out).isEmpty)
    }
  }

  @Test("MX single-pass block kernel", arguments: MXFormat.allCases)
  func mx(format: MXFormat) throws {
    for blockSize in [16, 32, 64] {
      let rows = 5, cols = 128
      // ReferenceKernels.mx has no infinite input (its ceil(log2) loop would not end).
      let x = Self.awkwardValues(rows: rows, cols: cols, seed: 77).map { $0.isInfinite ? 1e30 : $0 }
      let ref = try ReferenceKernels.mx(x, shape: [rows, cols], format: format, blockSize: blockSize)
      var out = [Float](repeating: .nan, count: x.count)
      var codes = [UInt8](repeating: 0, count: x.count / blockSize)
      try x.withUnsafeBufferPointer { xb in
        try out.withUnsafeMutableBufferPointer { ob in
          try codes.withUnsafeMutableBufferPointer { cb in
            try format.fakeQuant(xb, shape: [rows, cols], blockSize: blockSize, into: ob, scaleCodes: cb)
          }
        }
      }
      #expect(Self.mismatches(out, ref.out).isEmpty, "\(format) block \(blockSize)")
      #expect(codes == ref.codes, "\(format) block \(blockSize) codes")
    }
  }

  @Test("Integer and FP8 fake quant with STE mask, per channel and per tensor")
  func integerAndFP8() throws {
    let shape = [37, 50]
    let x = Self.awkwardValues(rows: 37, cols: 50, seed: 5).map { $0.isFinite ? $0 : 1 }
    for granularity in [QuantGranularity.perTensor, .perChannel(axis: 0), .perChannel(axis: 1)] {
      let amax = try x.withUnsafeBufferPointer { try Amax.maxAbs($0, shape: shape, granularity: granularity) }
      for format in [try NumberFormat.integer(bits: 8), try NumberFormat.integer(bits: 4), .int(bits: 4, signed: false, narrowRange: false)] {
        let ref = try ReferenceKernels.modelOptInt(x, shape: shape, format: format, granularity: granularity, amax: amax)
        var out = [Float](repeating: .nan, count: x.count), mask = [UInt8](repeating: 9, count: x.count)
        try x.withUnsafeBufferPointer { xb in
          try amax.withUnsafeBufferPointer { ab in
            try out.withUnsafeMutableBufferPointer { ob in
              try mask.withUnsafeMutableBufferPointer { mb in
                try IntFakeQuant.modelOpt(
                  xb, shape: shape, format: format, granularity: granularity, amax: ab, into: ob, steMask: mb)
              }
            }
          }
        }
        #expect(Self.mismatches(out, ref.out).isEmpty, "\(format) \(granularity)")
        #expect(mask == ref.mask, "\(format) \(granularity) mask")
      }
      for format in [NumberFormat.fp8E4M3, .fp8E5M2] {
        let ref = try ReferenceKernels.fp8ModelOpt(x, shape: shape, format: format, granularity: granularity, amax: amax)
        var out = [Float](repeating: .nan, count: x.count)
        try x.withUnsafeBufferPointer { xb in
          try amax.withUnsafeBufferPointer { ab in
            try out.withUnsafeMutableBufferPointer { ob in
              try FP8.fakeQuantModelOpt(xb, shape: shape, format: format, granularity: granularity, amax: ab, into: ob)
            }
          }
        }
        #expect(Self.mismatches(out, ref).isEmpty, "\(format) \(granularity)")
      }
    }
  }
}

/// Infinite and NaN blocks: the reference MX kernel terminates and agrees with the fast one on
/// the scale codes (an infinite block takes the largest scale, a NaN block the smallest).
@Suite struct MXNonFiniteBlockTests {
  @Test func infiniteAndNaNBlocks() throws {
    var x = [Float](repeating: 0.5, count: 96)
    x[3] = .infinity
    x[40] = .nan
    let ref = try ReferenceKernels.mx(x, shape: [96], format: .mxfp4, blockSize: 32)
    var out = [Float](repeating: 0, count: 96)
    var codes = [UInt8](repeating: 0, count: 3)
    try x.withUnsafeBufferPointer { xb in
      try out.withUnsafeMutableBufferPointer { ob in
        try codes.withUnsafeMutableBufferPointer { cb in
          try MXFormat.mxfp4.fakeQuant(xb, shape: [96], blockSize: 32, into: ob, scaleCodes: cb)
        }
      }
    }
    #expect(ref.codes == codes)
    #expect(codes[0] == 254)
    #expect(codes[2] == ref.codes[2])
  }
}

/// 64 blocks (the 16-blocks-at-a-time parameter path) with infinite, NaN, subnormal and
/// near-2^-127 block maxima: fast MX kernels equal the reference in outputs and scale codes.
@Suite struct MXVectorParamsTests {
  @Test(arguments: [MXFormat.mxfp4, .mxfp8, .mxfp8E5M2])
  func manyBlocksWithEdgeMaxima(_ format: MXFormat) throws {
    let blocks = 64, size = 32
    var rng = RandomGenerator(seed: 5)
    var x = (0..<(blocks * size)).map { _ in rng.nextNormal() }
    let edges: [Float] = [.infinity, -.infinity, .nan, 0, 0x1p-127, 0x1.8p-127, 0x1p-149, 0x1p-126, 3e38, 1e-30]
    for (b, e) in edges.enumerated() {
      for i in 0..<size { x[(b * 3) * size + i] = i == 7 ? e : (e.isFinite ? e / 2 : 0.25) }
    }
    for i in 0..<size { x[40 * size + i] = 0 }  // an all-zero block
    let ref = try ReferenceKernels.mx(x, shape: [blocks, size], format: format, blockSize: size)
    var out = [Float](repeating: 0, count: x.count)
    var codes = [UInt8](repeating: 0, count: blocks)
    try x.withUnsafeBufferPointer { xb in
      try out.withUnsafeMutableBufferPointer { ob in
        try codes.withUnsafeMutableBufferPointer { cb in
          try format.fakeQuant(xb, shape: [blocks, size], blockSize: size, into: ob, scaleCodes: cb)
        }
      }
    }
    #expect(codes == ref.codes)
    for (a, b) in zip(out, ref.out) { #expect(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)) }
  }
}

/// NVFP4 elements exactly on, and one ulp either side of, every E2M1 rounding boundary (the
/// ties 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5 and the saturation at 6), in both signs, in the
/// 16-blocks-at-a-time path: the fast kernel equals the reference bit for bit, signs of zero
/// included.
@Suite struct NVFP4KernelBoundaryTests {
  @Test func tiesAndNeighbours() throws {
    // Global amax 2688 gives gs = 1; each block's max 6 gives t = 1, so s = 1 and |x| / s = |x|.
    let boundaries: [Float] = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 6, 0.5, 1, 2, 4]
    var values: [Float] = []
    for b in boundaries { values += [b.nextDown, b, b.nextUp, -b.nextDown, -b, -b.nextUp] }
    values += [0, -0.0, 0x1p-149, -0x1p-149, 5.999, -.nan]
    let blocks = 32, size = 16
    var x = [Float](repeating: 0, count: blocks * size)
    var v = 0
    for b in 0..<blocks {
      x[b * size] = b.isMultiple(of: 2) ? 6 : -6
      for i in 1..<size {
        x[b * size + i] = values[v % values.count]
        v += 1
      }
    }
    let ref = try ReferenceKernels.nvfp4(x, shape: [blocks, size], globalAmax: 2688)
    #expect(ref.blockScales.allSatisfy { $0 == 1 })
    var out = [Float](repeating: .nan, count: x.count)
    try x.withUnsafeBufferPointer { xb in
      try out.withUnsafeMutableBufferPointer { ob in
        _ = try NVFP4.fakeQuant(xb, shape: [blocks, size], globalAmax: 2688, into: ob)
      }
    }
    #expect(KernelFastPathTests.mismatches(out, ref.out).isEmpty)
    // Spot checks of the rounding itself: ties go to the even code, +0.0 for every zero.
    let at = { (value: Float) -> Float in out[x.firstIndex { $0.bitPattern == value.bitPattern }!] }
    #expect(at(0.25) == 0 && at(0.25).sign == .plus && at(-0.25).sign == .plus)
    #expect(at(0.75) == 1 && at(1.25) == 1 && at(1.75) == 2 && at(2.5) == 2 && at(3.5) == 4 && at(5) == 4)
    #expect(at((0.25 as Float).nextUp) == 0.5 && at((5 as Float).nextUp) == 6 && at(-(3.5 as Float).nextDown) == -3)
  }
}

/// The block kernels over several groups and worker chunks whose block count is not a multiple
/// of 16 (a partial last group, a partial last prefetch step), with normal and streaming stores,
/// at block sizes with an unrolled element loop (16, 32) and a generic one (48): bit-identical to
/// the reference kernels, NaN / infinite / zero / subnormal blocks and E2M1 ties included.
@Suite struct BlockKernelTests {
  static func input(blocks: Int, size: Int) -> [Float] {
    var x = KernelFastPathTests.awkwardValues(rows: blocks, cols: size, seed: UInt64(size))
    // Ties of the E2M1 grid at scale 1 in one block (its maximum 6 keeps the block scale 1 when
    // the global amax is 2688), all-zero and subnormal blocks in the last, partial group.
    let ties: [Float] = [6, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5, 0]
    for i in 0..<size { x[5 * size + i] = ties[i % ties.count] }
    for i in 0..<size { x[(blocks - 2) * size + i] = 0 }
    for i in 0..<size { x[(blocks - 1) * size + i] = Float(i) * 0x1p-146 }
    return x
  }

  @Test(arguments: [16, 32, 48])
  func partialGroupsStreamedAndNot(size: Int) throws {
    // 4100 blocks of 16: two worker chunks (4096 + 4), the last one a partial group.
    let blocks = size == 16 ? 4100 : 531
    let x = Self.input(blocks: blocks, size: size)
    let nvRef = try ReferenceKernels.nvfp4(x, shape: [blocks, size], globalAmax: 2688, blockSize: size)
    let mxRef = try ReferenceKernels.mx(x.map { $0.isInfinite ? 1e30 : $0 }, shape: [blocks, size], format: .mxfp4, blockSize: size)
    for threshold in [Int.max, 0] {
      var out = [Float](repeating: .nan, count: x.count)
      try x.withUnsafeBufferPointer { xb in
        try out.withUnsafeMutableBufferPointer { ob in
          _ = try NVFP4.fakeQuant(
            xb, shape: [blocks, size], globalAmax: 2688, blockSize: size, into: ob, blockScales: nil,
            streamingThreshold: threshold)
        }
      }
      #expect(KernelFastPathTests.mismatches(out, nvRef.out).isEmpty, "NVFP4 block \(size) threshold \(threshold)")
      let xm = x.map { $0.isInfinite ? 1e30 : $0 }
      try xm.withUnsafeBufferPointer { xb in
        try out.withUnsafeMutableBufferPointer { ob in
          try MXFormat.mxfp4.fakeQuant(
            xb, shape: [blocks, size], blockSize: size, into: ob, scaleCodes: nil, streamingThreshold: threshold)
        }
      }
      #expect(KernelFastPathTests.mismatches(out, mxRef.out).isEmpty, "MXFP4 block \(size) threshold \(threshold)")
    }
  }
}

/// The streaming block kernels write 64-byte aligned output vectors that straddle two blocks
/// wherever the output is not line-aligned at a chunk's start: every output alignment (0–15
/// floats past a line), two worker chunks (so a chunk ends on a partial vector before another
/// chunk's elements), out of place and in place (`out == x`, so a vector that overwrites the next
/// block's first elements must come after that block's maximum was read): bit-identical to the
/// reference kernels, with every output element written.
@Suite struct BlockKernelAlignmentTests {
  /// Runs `body` on an output (or in-place) buffer `offset` floats into a larger allocation.
  static func run(
    _ x: [Float], offset: Int, inPlace: Bool,
    _ body: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) throws -> Void
  ) rethrows -> [Float] {
    var storage = [Float](repeating: .nan, count: x.count + 16)
    if inPlace { storage.replaceSubrange(offset..<(offset + x.count), with: x) }
    try storage.withUnsafeMutableBufferPointer { s in
      let out = UnsafeMutableBufferPointer(rebasing: s[offset..<(offset + x.count)])
      if inPlace {
        try body(UnsafeBufferPointer(out), out)
      } else {
        try x.withUnsafeBufferPointer { try body($0, out) }
      }
    }
    return Array(storage[offset..<(offset + x.count)])
  }

  @Test(arguments: [16, 32])
  func everyOutputAlignment(size: Int) throws {
    // Two worker chunks: 4096 + 4 blocks of 16, 2048 + 52 blocks of 32.
    let blocks = size == 16 ? 4100 : 2100
    let x = BlockKernelTests.input(blocks: blocks, size: size).map { $0.isInfinite ? 1e30 : $0 }
    let shape = [blocks, size]
    let nvRef = try ReferenceKernels.nvfp4(x, shape: shape, globalAmax: 2688, blockSize: size)
    let mxRef = try ReferenceKernels.mx(x, shape: shape, format: .mxfp4, blockSize: size)
    for offset in 0..<16 {
      for inPlace in [false, true] where !inPlace || offset % 5 == 0 {
        let nv = try Self.run(x, offset: offset, inPlace: inPlace) { xb, ob in
          _ = try NVFP4.fakeQuant(
            xb, shape: shape, globalAmax: 2688, blockSize: size, into: ob, blockScales: nil, streamingThreshold: 0)
        }
        #expect(KernelFastPathTests.mismatches(nv, nvRef.out).isEmpty, "NVFP4 \(size) offset \(offset) in place \(inPlace)")
        var codes = [UInt8](repeating: 0, count: blocks)
        let mx = try codes.withUnsafeMutableBufferPointer { cb in
          try Self.run(x, offset: offset, inPlace: inPlace) { xb, ob in
            try MXFormat.mxfp4.fakeQuant(
              xb, shape: shape, blockSize: size, into: ob, scaleCodes: cb, streamingThreshold: 0)
          }
        }
        #expect(KernelFastPathTests.mismatches(mx, mxRef.out).isEmpty, "MXFP4 \(size) offset \(offset) in place \(inPlace)")
        #expect(codes == mxRef.codes, "MXFP4 \(size) offset \(offset) codes")
      }
    }
  }

  /// A block size that is not a multiple of 16 takes normal stores even above the streaming
  /// threshold; a single-block tensor streams through the chunk-end path alone.
  @Test func otherBlockSizesAndOneBlock() throws {
    for (blocks, size) in [(300, 8), (1, 16), (1, 32), (3, 48)] {
      let x = BlockKernelTests.input(blocks: max(blocks, 8), size: size).prefix(blocks * size).map { $0.isInfinite ? 1e30 : $0 }
      let shape = [blocks, size]
      let nvRef = try ReferenceKernels.nvfp4(Array(x), shape: shape, globalAmax: 2688, blockSize: size)
      for offset in [0, 3] {
        let nv = try Self.run(Array(x), offset: offset, inPlace: false) { xb, ob in
          _ = try NVFP4.fakeQuant(
            xb, shape: shape, globalAmax: 2688, blockSize: size, into: ob, blockScales: nil, streamingThreshold: 0)
        }
        #expect(KernelFastPathTests.mismatches(nv, nvRef.out).isEmpty, "NVFP4 \(blocks)x\(size) offset \(offset)")
      }
    }
  }
}
