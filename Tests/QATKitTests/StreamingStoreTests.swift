import Testing

@testable import QATKit

/// The fake-quantization kernels with streaming (non-temporal) stores give the same bits as with
/// normal stores, for outputs and STE masks at every alignment, in one chunk and across chunks.
@Suite("Streaming stores")
struct StreamingStoreTests {
  static func values(_ n: Int, seed: UInt64) -> [Float] {
    var rng = RandomGenerator(seed: seed)
    return (0..<n).map { _ in 3 * rng.nextNormal() }
  }

  /// Runs `body(out, mask)` on slices of larger buffers starting `offset` elements in, and returns
  /// the slices.
  static func misaligned(
    count: Int, offset: Int, _ body: (UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<UInt8>) throws -> Void
  ) rethrows -> ([Float], [UInt8]) {
    var out = [Float](repeating: .nan, count: count + 16)
    var mask = [UInt8](repeating: 9, count: count + 16)
    try out.withUnsafeMutableBufferPointer { o in
      try mask.withUnsafeMutableBufferPointer { m in
        try body(
          UnsafeMutableBufferPointer(rebasing: o[offset..<(offset + count)]),
          UnsafeMutableBufferPointer(rebasing: m[(15 - offset)..<(15 - offset + count)]))
      }
    }
    return (Array(out[offset..<(offset + count)]), Array(mask[(15 - offset)..<(15 - offset + count)]))
  }

  @Test("integer lane kernel (per channel and per tensor) with STE mask", arguments: [(7, 1040), (3, 30_000)])
  func laneKernel(rows: Int, cols: Int) throws {
    let x = Self.values(rows * cols, seed: UInt64(cols))
    let format = NumberFormat.int(bits: 8, signed: true, narrowRange: false)
    for granularity in [QuantGranularity.perChannel(axis: 0), .perTensor] {
      let layout = try resolveLayout(shape: [rows, cols], bufferCount: x.count, granularity: granularity)
      let amax = x.withUnsafeBufferPointer { Amax.maxAbs($0, layout: layout) }
      let params = IntFakeQuant.modelOptParams(amax, maxBound: format.maxBound)
      let kernel = ModelOptIntKernel(minBound: format.minBound, maxBound: format.maxBound)
      for offset in [0, 1, 4, 11, 15] {
        let run = { (threshold: Int) in
          Self.misaligned(count: x.count, offset: offset) { o, m in
            x.withUnsafeBufferPointer { xb in
              runLaneKernel(kernel, xb, o, mask: m, layout: layout, params: params, streamingThreshold: threshold)
            }
          }
        }
        let normal = run(.max), streamed = run(0)
        #expect(normal.0.map(\.bitPattern) == streamed.0.map(\.bitPattern), "\(granularity) offset \(offset)")
        #expect(normal.1 == streamed.1, "mask \(granularity) offset \(offset)")
      }
    }
  }

  @Test("NVFP4 and MXFP4 block kernels", arguments: [(5, 256), (2, 40_960)])
  func blockKernels(rows: Int, cols: Int) throws {
    let x = Self.values(rows * cols, seed: UInt64(cols) + 1)
    for offset in [0, 3, 12] {
      let nv = { (threshold: Int) in
        try Self.misaligned(count: x.count, offset: offset) { o, _ in
          try x.withUnsafeBufferPointer { xb in
            _ = try NVFP4.fakeQuant(
              xb, shape: [rows, cols], globalAmax: 9, blockSize: 16, into: o, blockScales: nil, streamingThreshold: threshold)
          }
        }.0
      }
      #expect(try nv(.max).map(\.bitPattern) == nv(0).map(\.bitPattern), "NVFP4 offset \(offset)")
      let mx = { (threshold: Int) in
        try Self.misaligned(count: x.count, offset: offset) { o, _ in
          try x.withUnsafeBufferPointer { xb in
            try MXFormat.mxfp4.fakeQuant(
              xb, shape: [rows, cols], blockSize: 32, into: o, scaleCodes: nil, streamingThreshold: threshold)
          }
        }.0
      }
      #expect(try mx(.max).map(\.bitPattern) == mx(0).map(\.bitPattern), "MXFP4 offset \(offset)")
    }
  }
}
