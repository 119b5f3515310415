/// Two 4-bit codes per byte, in the two layouts of ModelOpt's unified checkpoint.
///
/// - INT4 (`W4A16_AWQ`, `W4A8_AWQ`): along the **output** dimension of a `[out, in]` weight:
///   byte `[r, c]` of the `[out/2, in]` tensor holds row `2r` in its low nibble and row `2r+1`
///   in its high nibble (two's complement codes).
/// - E2M1 (NVFP4, MXFP4): along the **input** (last) dimension: byte `k` holds element `2k` low
///   and `2k+1` high, which is ``QATKit/QuantizedTensor``'s own packing.
enum Nibbles {
  /// Packs signed 4-bit integer codes of a `[rows, cols]` matrix (row-major, `rows` even)
  /// pairwise along the rows.
  static func packAlongRows(_ codes: [Int8], rows: Int, cols: Int) -> [UInt8] {
    precondition(rows % 2 == 0 && codes.count == rows * cols, "packAlongRows: \(rows)x\(cols) with \(codes.count) codes")
    var out = [UInt8](repeating: 0, count: rows / 2 * cols)
    for r in 0..<(rows / 2) {
      let even = 2 * r * cols, odd = (2 * r + 1) * cols
      for c in 0..<cols {
        let lo = UInt8(bitPattern: codes[even + c]) & 0x0F
        let hi = UInt8(bitPattern: codes[odd + c]) & 0x0F
        out[r * cols + c] = lo | hi << 4
      }
    }
    return out
  }

  /// The signed 4-bit codes of a `[2 · packedRows, cols]` matrix packed by ``packAlongRows(_:rows:cols:)``.
  static func unpackAlongRows(_ bytes: [UInt8], packedRows: Int, cols: Int) -> [Int8] {
    var out = [Int8](repeating: 0, count: 2 * packedRows * cols)
    for r in 0..<packedRows {
      for c in 0..<cols {
        let b = bytes[r * cols + c]
        out[2 * r * cols + c] = signExtend(b & 0x0F)
        out[(2 * r + 1) * cols + c] = signExtend(b >> 4)
      }
    }
    return out
  }

  /// The 4-bit codes packed along the last axis (low nibble first), `2 · bytes.count` of them.
  static func unpackAlongLastAxis(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 2 * bytes.count)
    for (k, b) in bytes.enumerated() {
      out[2 * k] = b & 0x0F
      out[2 * k + 1] = b >> 4
    }
    return out
  }

  /// A 4-bit two's complement code as `Int8` (`0x8` → -8).
  @inline(__always) static func signExtend(_ nibble: UInt8) -> Int8 {
    Int8(bitPattern: nibble << 4) >> 4
  }
}
