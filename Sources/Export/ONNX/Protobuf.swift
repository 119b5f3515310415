/// The protocol buffers wire format, as much as ONNX needs: varints, 32-bit floats,
/// length-delimited fields (bytes, strings, nested messages, packed repeated scalars).
/// Written from the encoding spec; no dependency.
enum Protobuf {
  /// Wire types.
  enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
  }

  /// An encoder appending fields to a byte buffer.
  struct Writer {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
      var v = value
      while v >= 0x80 {
        bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
      }
      bytes.append(UInt8(v))
    }

    mutating func tag(_ field: Int, _ type: WireType) { varint(UInt64(field) << 3 | UInt64(type.rawValue)) }

    /// An `int64` / `int32` / enum field (negative values take ten bytes, two's complement).
    mutating func int(_ field: Int, _ value: Int64) {
      tag(field, .varint)
      varint(UInt64(bitPattern: value))
    }

    /// A `float` field.
    mutating func float(_ field: Int, _ value: Float) {
      tag(field, .fixed32)
      let b = value.bitPattern
      for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: b >> (8 * UInt32(i)))) }
    }

    /// A `bytes` field.
    mutating func bytes(_ field: Int, _ value: [UInt8]) {
      tag(field, .lengthDelimited)
      varint(UInt64(value.count))
      bytes.append(contentsOf: value)
    }

    /// A `string` field (UTF-8).
    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    /// A nested message field.
    mutating func message(_ field: Int, _ build: (inout Writer) -> Void) {
      var inner = Writer()
      build(&inner)
      bytes(field, inner.bytes)
    }

    /// A packed repeated `int64` field.
    mutating func packedInts(_ field: Int, _ values: [Int64]) {
      var inner = Writer()
      for v in values { inner.varint(UInt64(bitPattern: v)) }
      bytes(field, inner.bytes)
    }

    /// A packed repeated `float` field.
    mutating func packedFloats(_ field: Int, _ values: [Float]) {
      var raw: [UInt8] = []
      raw.reserveCapacity(4 * values.count)
      for v in values {
        let b = v.bitPattern
        for i in 0..<4 { raw.append(UInt8(truncatingIfNeeded: b >> (8 * UInt32(i)))) }
      }
      bytes(field, raw)
    }
  }

  /// One decoded field.
  struct Field {
    let number: Int
    let value: Value
  }

  /// A field's payload.
  enum Value {
    case varint(UInt64)
    case fixed64(UInt64)
    case fixed32(UInt32)
    case bytes(ArraySlice<UInt8>)
  }

  /// Decoding errors (truncation, bad wire types, overlong varints).
  struct DecodingError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
  }

  /// Splits a message into its fields, in order.
  static func fields(_ data: ArraySlice<UInt8>) throws -> [Field] {
    var out: [Field] = []
    var i = data.startIndex
    func varint() throws -> UInt64 {
      var result: UInt64 = 0
      var shift: UInt64 = 0
      while true {
        guard i < data.endIndex else { throw DecodingError(message: "truncated varint at byte \(i - data.startIndex)") }
        let b = data[i]
        i += 1
        guard shift < 64 else { throw DecodingError(message: "varint longer than 10 bytes") }
        result |= UInt64(b & 0x7F) << shift
        if b & 0x80 == 0 { return result }
        shift += 7
      }
    }
    func fixed(_ n: Int) throws -> UInt64 {
      guard data.endIndex - i >= n else { throw DecodingError(message: "truncated \(8 * n)-bit field") }
      var v: UInt64 = 0
      for k in 0..<n { v |= UInt64(data[i + k]) << (8 * UInt64(k)) }
      i += n
      return v
    }
    while i < data.endIndex {
      let key = try varint()
      let number = Int(key >> 3)
      guard number > 0 else { throw DecodingError(message: "field number 0") }
      switch key & 7 {
      case 0: out.append(Field(number: number, value: .varint(try varint())))
      case 1: out.append(Field(number: number, value: .fixed64(try fixed(8))))
      case 5: out.append(Field(number: number, value: .fixed32(UInt32(try fixed(4)))))
      case 2:
        let n = try varint()
        guard n <= UInt64(data.endIndex - i) else { throw DecodingError(message: "length \(n) runs past the end") }
        out.append(Field(number: number, value: .bytes(data[i..<(i + Int(n))])))
        i += Int(n)
      default: throw DecodingError(message: "unsupported wire type \(key & 7) for field \(number)")
      }
    }
    return out
  }
}

extension Protobuf.Value {
  /// The payload as a signed integer (varint).
  func int() throws -> Int64 {
    guard case .varint(let v) = self else { throw Protobuf.DecodingError(message: "expected a varint") }
    return Int64(bitPattern: v)
  }

  /// The payload as bytes.
  func data() throws -> ArraySlice<UInt8> {
    guard case .bytes(let b) = self else { throw Protobuf.DecodingError(message: "expected a length-delimited field") }
    return b
  }

  /// The payload as a UTF-8 string.
  func string() throws -> String {
    guard let s = String(validating: try data(), as: UTF8.self) else {
      throw Protobuf.DecodingError(message: "string field is not valid UTF-8")
    }
    return s
  }

  /// The payload as a 32-bit float.
  func float() throws -> Float {
    guard case .fixed32(let v) = self else { throw Protobuf.DecodingError(message: "expected a 32-bit field") }
    return Float(bitPattern: v)
  }

  /// A repeated `int64`: packed (length-delimited) or one varint.
  func ints() throws -> [Int64] {
    switch self {
    case .varint(let v): return [Int64(bitPattern: v)]
    case .bytes(let b):
      return try Protobuf.fields(Self.packedAsFields(b)).map { try $0.value.int() }
    default: throw Protobuf.DecodingError(message: "expected repeated int64")
    }
  }

  /// A repeated `float`: packed or one fixed32.
  func floats() throws -> [Float] {
    switch self {
    case .fixed32(let v): return [Float(bitPattern: v)]
    case .bytes(let b):
      guard b.count % 4 == 0 else { throw Protobuf.DecodingError(message: "packed floats of \(b.count) bytes") }
      return stride(from: b.startIndex, to: b.endIndex, by: 4).map { k in
        var bits: UInt32 = 0
        for j in 0..<4 { bits |= UInt32(b[k + j]) << (8 * UInt32(j)) }
        return Float(bitPattern: bits)
      }
    default: throw Protobuf.DecodingError(message: "expected repeated float")
    }
  }

  /// Packed varints re-tagged as field 1 varints, so ``Protobuf/fields(_:)`` can split them.
  private static func packedAsFields(_ b: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var out: [UInt8] = []
    out.reserveCapacity(b.count * 2)
    var i = b.startIndex
    while i < b.endIndex {
      out.append(0x08)
      while i < b.endIndex {
        out.append(b[i])
        i += 1
        if out.last! & 0x80 == 0 { break }
      }
    }
    return out[...]
  }
}
