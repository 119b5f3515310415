extension DType {
  /// Encodes `values` as little-endian bytes of this dtype.
  ///
  /// - F32: bit-exact. F64: exact widening.
  /// - F16, BF16, F8_E5M2: round to nearest even; overflow gives ±infinity; NaN stays NaN.
  /// - F8_E4M3 (E4M3FN): round to nearest even; overflow and ±infinity saturate to ±448;
  ///   NaN gives `0x7F`.
  /// - Integer types: round to nearest even, then saturate to the type's range; NaN gives 0.
  /// - BOOL: 1 for any non-zero, non-NaN value, else 0.
  public func encode(_ values: [Float]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(values.count * byteSize)
    for value in values {
      switch self {
      case .f32: Self.append(value.bitPattern, to: &out)
      case .f64: Self.append(Double(value).bitPattern, to: &out)
      case .f16: Self.append(UInt16(Minifloat.encode(value, Minifloat.half)), to: &out)
      case .bf16: Self.append(Minifloat.bfloat16(value), to: &out)
      case .f8E4M3: out.append(UInt8(Minifloat.encode(value, Minifloat.e4m3fn)))
      case .f8E5M2: out.append(UInt8(Minifloat.encode(value, Minifloat.e5m2)))
      case .bool: out.append(value != 0 && !value.isNaN ? 1 : 0)
      case .i8: Self.append(Self.saturating(value, Int8.self), to: &out)
      case .u8: Self.append(Self.saturating(value, UInt8.self), to: &out)
      case .i16: Self.append(Self.saturating(value, Int16.self), to: &out)
      case .u16: Self.append(Self.saturating(value, UInt16.self), to: &out)
      case .i32: Self.append(Self.saturating(value, Int32.self), to: &out)
      case .u32: Self.append(Self.saturating(value, UInt32.self), to: &out)
      case .i64: Self.append(Self.saturating(value, Int64.self), to: &out)
      case .u64: Self.append(Self.saturating(value, UInt64.self), to: &out)
      }
    }
    return out
  }

  private static func saturating<T: FixedWidthInteger>(_ value: Float, _ type: T.Type) -> T {
    let rounded = value.rounded(.toNearestOrEven)
    if rounded.isNaN { return 0 }
    if rounded <= Float(T.min) { return T.min }
    if rounded >= Float(T.max) { return T.max }
    return T(rounded)
  }

  private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
    var v = value.littleEndian
    withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
  }
}
