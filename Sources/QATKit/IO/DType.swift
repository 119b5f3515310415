/// The element type of a tensor stored in a safetensors file.
///
/// Raw values are the names the safetensors format uses in its JSON header
/// (`"F32"`, `"BF16"`, `"F8_E4M3"`, ...). All multi-byte types are stored little-endian.
public enum DType: String, Sendable, CaseIterable {
  /// IEEE 754 binary32.
  case f32 = "F32"
  /// IEEE 754 binary16 (half precision).
  case f16 = "F16"
  /// bfloat16: the upper 16 bits of a binary32.
  case bf16 = "BF16"
  /// IEEE 754 binary64.
  case f64 = "F64"
  /// Signed 8-bit integer.
  case i8 = "I8"
  /// Unsigned 8-bit integer.
  case u8 = "U8"
  /// Signed 16-bit integer.
  case i16 = "I16"
  /// Signed 32-bit integer.
  case i32 = "I32"
  /// Signed 64-bit integer.
  case i64 = "I64"
  /// Boolean, one byte per element (0 = false, anything else = true).
  case bool = "BOOL"
  /// Unsigned 16-bit integer.
  case u16 = "U16"
  /// Unsigned 32-bit integer.
  case u32 = "U32"
  /// Unsigned 64-bit integer.
  case u64 = "U64"
  /// 8-bit float E4M3FN: 4 exponent bits (bias 7), 3 mantissa bits, no infinities,
  /// NaN = `0x7F`/`0xFF`, largest finite value 448.
  case f8E4M3 = "F8_E4M3"
  /// 8-bit float E5M2: 5 exponent bits (bias 15), 2 mantissa bits, IEEE-like with
  /// infinities (`0x7C`/`0xFC`), largest finite value 57344.
  case f8E5M2 = "F8_E5M2"

  /// The number of bytes one element occupies.
  public var byteSize: Int {
    switch self {
    case .i8, .u8, .bool, .f8E4M3, .f8E5M2: 1
    case .f16, .bf16, .i16, .u16: 2
    case .f32, .i32, .u32: 4
    case .f64, .i64, .u64: 8
    }
  }

  /// Whether the type is a floating-point format (F64, F32, F16, BF16 or one of the FP8 formats).
  public var isFloatingPoint: Bool {
    switch self {
    case .f32, .f16, .bf16, .f64, .f8E4M3, .f8E5M2: true
    default: false
    }
  }
}
