import Foundation

extension SafeTensorsFile {
  /// Calls `body` with the raw little-endian bytes of tensor `name`, without copying.
  ///
  /// The buffer is valid only inside `body`.
  public func withRawBytes<R>(
    _ name: String, _ body: (UnsafeRawBufferPointer) throws -> R
  ) throws -> R {
    let tensor = try info(name)
    return try storage.withUnsafeBytes { (file: UnsafeRawBufferPointer) throws -> R in
      let start = dataStart + tensor.dataOffsets.lowerBound
      return try body(UnsafeRawBufferPointer(rebasing: file[start..<(start + tensor.byteCount)]))
    }
  }

  /// A copy of the raw little-endian bytes of tensor `name`, exactly as stored.
  public func rawBytes(_ name: String) throws(SafeTensorsError) -> [UInt8] {
    try typedRawBytes(name) { [UInt8]($0) }
  }

  /// Tensor `name` as `Float`, row-major.
  ///
  /// Every dtype converts: float formats widen exactly (F64 rounds to nearest even),
  /// integers round to nearest, BOOL gives 0 or 1.
  public func floats(_ name: String) throws(SafeTensorsError) -> [Float] {
    let tensor = try info(name)
    return try typedRawBytes(name) { buffer in
      let n = tensor.elementCount
      switch tensor.dtype {
      case .f32:
        #if _endian(little)
        // Stored little-endian, as the host: one copy (a model's weights load in milliseconds).
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
          if n > 0 { UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[0..<(n * 4)])) }
          initialized = n
        }
        #else
        return Self.map(buffer, n) { Float(bitPattern: Self.load($0, $1, UInt32.self)) }
        #endif
      case .f64: return Self.map(buffer, n) { Float(Double(bitPattern: Self.load($0, $1, UInt64.self))) }
      case .f16: return Self.map(buffer, n) { Minifloat.decode(UInt32(Self.load($0, $1, UInt16.self)), Minifloat.half) }
      case .bf16: return Self.map(buffer, n) { Minifloat.float(bfloat16: Self.load($0, $1, UInt16.self)) }
      case .f8E4M3: return Self.map(buffer, n) { Minifloat.decode(UInt32($0[$1]), Minifloat.e4m3fn) }
      case .f8E5M2: return Self.map(buffer, n) { Minifloat.decode(UInt32($0[$1]), Minifloat.e5m2) }
      case .i8, .u8, .i16, .u16, .i32, .u32, .i64, .bool:
        return Self.integers(buffer, n, tensor.dtype).map { Float($0) }
      case .u64: return Self.map(buffer, n) { Float(Self.load($0, $1, UInt64.self)) }
      }
    }
  }

  /// Tensor `name` as `Double`, row-major.
  ///
  /// Float formats widen exactly; I64/U64 round to nearest beyond 2^53; BOOL gives 0 or 1.
  public func doubles(_ name: String) throws(SafeTensorsError) -> [Double] {
    let tensor = try info(name)
    switch tensor.dtype {
    case .f64:
      return try typedRawBytes(name) { buffer in
        Self.map(buffer, tensor.elementCount) { Double(bitPattern: Self.load($0, $1, UInt64.self)) }
      }
    case .u64:
      return try uint64s(name).map { Double($0) }
    case .i8, .u8, .i16, .u16, .i32, .u32, .i64, .bool:
      return try int64s(name).map { Double($0) }
    case .f32, .f16, .bf16, .f8E4M3, .f8E5M2:
      return try floats(name).map { Double($0) }
    }
  }

  /// Tensor `name` of an integer or BOOL dtype as `Int64`, exactly.
  ///
  /// - Throws: `.dtypeMismatch` for float dtypes; `.valueOutOfRange` for a U64 value above `Int64.max`.
  public func int64s(_ name: String) throws(SafeTensorsError) -> [Int64] {
    let tensor = try info(name)
    if tensor.dtype == .u64 {
      let values = try uint64s(name)
      var result: [Int64] = []
      result.reserveCapacity(values.count)
      for value in values {
        guard let exact = Int64(exactly: value) else {
          throw SafeTensorsError(
            .valueOutOfRange(name), "tensor `\(name)` holds \(value), above Int64.max; use uint64s")
        }
        result.append(exact)
      }
      return result
    }
    guard !tensor.dtype.isFloatingPoint else {
      throw SafeTensorsError(
        .dtypeMismatch(name, tensor.dtype, "Int64"),
        "tensor `\(name)` is \(tensor.dtype.rawValue); use floats or doubles")
    }
    return try typedRawBytes(name) { Self.integers($0, tensor.elementCount, tensor.dtype) }
  }

  /// Tensor `name` of an integer or BOOL dtype as `UInt64`, exactly.
  ///
  /// - Throws: `.dtypeMismatch` for float dtypes; `.valueOutOfRange` for a negative value.
  public func uint64s(_ name: String) throws(SafeTensorsError) -> [UInt64] {
    let tensor = try info(name)
    if tensor.dtype == .u64 {
      return try typedRawBytes(name) { buffer in
        Self.map(buffer, tensor.elementCount) { Self.load($0, $1, UInt64.self) }
      }
    }
    let values = try int64s(name)
    var result: [UInt64] = []
    result.reserveCapacity(values.count)
    for value in values {
      guard let exact = UInt64(exactly: value) else {
        throw SafeTensorsError(.valueOutOfRange(name), "tensor `\(name)` holds \(value), which is negative")
      }
      result.append(exact)
    }
    return result
  }

  // MARK: Helpers

  /// Runs a non-throwing decoder over the tensor's bytes, mapping lookup errors to `SafeTensorsError`.
  private func typedRawBytes<R>(
    _ name: String, _ body: (UnsafeRawBufferPointer) -> R
  ) throws(SafeTensorsError) -> R {
    let tensor = try info(name)
    return storage.withUnsafeBytes { (file: UnsafeRawBufferPointer) -> R in
      let start = dataStart + tensor.dataOffsets.lowerBound
      return body(UnsafeRawBufferPointer(rebasing: file[start..<(start + tensor.byteCount)]))
    }
  }

  private static func load<T: FixedWidthInteger>(
    _ buffer: UnsafeRawBufferPointer, _ index: Int, _ type: T.Type
  ) -> T {
    T(littleEndian: buffer.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
  }

  private static func map<T>(
    _ buffer: UnsafeRawBufferPointer, _ count: Int, _ element: (UnsafeRawBufferPointer, Int) -> T
  ) -> [T] {
    var result: [T] = []
    result.reserveCapacity(count)
    for i in 0..<count { result.append(element(buffer, i)) }
    return result
  }

  /// Integer dtypes other than U64 (and BOOL) widened to Int64.
  private static func integers(_ buffer: UnsafeRawBufferPointer, _ count: Int, _ dtype: DType) -> [Int64] {
    switch dtype {
    case .i8: map(buffer, count) { Int64(Int8(bitPattern: $0[$1])) }
    case .u8: map(buffer, count) { Int64($0[$1]) }
    case .bool: map(buffer, count) { $0[$1] == 0 ? 0 : 1 }
    case .i16: map(buffer, count) { Int64(load($0, $1, Int16.self)) }
    case .u16: map(buffer, count) { Int64(load($0, $1, UInt16.self)) }
    case .i32: map(buffer, count) { Int64(load($0, $1, Int32.self)) }
    case .u32: map(buffer, count) { Int64(load($0, $1, UInt32.self)) }
    case .i64: map(buffer, count) { load($0, $1, Int64.self) }
    case .u64: map(buffer, count) { Int64(truncatingIfNeeded: load($0, $1, UInt64.self)) }
    case .f32, .f16, .bf16, .f64, .f8E4M3, .f8E5M2: []
    }
  }
}
