/// A JSON value as parsed from a safetensors header.
///
/// Integers keep their exact 64-bit magnitude (offsets can exceed 2^53); objects keep
/// their keys in file order.
enum HeaderJSON: Sendable {
  case null
  case bool(Bool)
  /// An integer literal (no fraction, no exponent) whose magnitude fits a `UInt64`.
  case integer(negative: Bool, magnitude: UInt64)
  /// Any other number: has a fraction or exponent, or is too large for `UInt64`.
  case number(Double)
  case string(String)
  case array([HeaderJSON])
  case object([(key: String, value: HeaderJSON)])
}

/// A small strict JSON parser (RFC 8259) for safetensors headers.
///
/// Unlike `JSONSerialization` it reports duplicate keys, keeps integers exact and keeps
/// booleans distinct from numbers. Nesting is limited to ``maxDepth`` levels so hostile
/// input cannot exhaust the stack.
struct HeaderJSONParser {
  /// Why parsing failed.
  enum Failure: Error {
    case syntax(String)
    case duplicateKey(String)
  }

  static let maxDepth = 64

  private let bytes: [UInt8]
  private var index = 0

  /// Parses `bytes` as one JSON value surrounded by optional whitespace.
  static func parse(_ bytes: [UInt8]) throws(Failure) -> HeaderJSON {
    var parser = HeaderJSONParser(bytes: bytes)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    if parser.index != bytes.count {
      throw .syntax("unexpected byte after the JSON value at offset \(parser.index)")
    }
    return value
  }

  private init(bytes: [UInt8]) {
    self.bytes = bytes
  }

  private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

  private mutating func skipWhitespace() {
    while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
      index += 1
    }
  }

  private mutating func expect(_ byte: UInt8) throws(Failure) {
    guard current == byte else {
      throw .syntax(current == nil ? "unexpected end of header" : "unexpected byte at offset \(index)")
    }
    index += 1
  }

  private mutating func parseValue(depth: Int) throws(Failure) -> HeaderJSON {
    guard depth < Self.maxDepth else { throw .syntax("nested deeper than \(Self.maxDepth) levels") }
    guard let byte = current else { throw .syntax("unexpected end of header") }
    switch byte {
    case UInt8(ascii: "{"): return try parseObject(depth: depth)
    case UInt8(ascii: "["): return try parseArray(depth: depth)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
    case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
    case UInt8(ascii: "n"): try parseLiteral("null"); return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
    default: throw .syntax("unexpected byte at offset \(index)")
    }
  }

  private mutating func parseLiteral(_ word: StaticString) throws(Failure) {
    let text = word.withUTF8Buffer { Array($0) }
    for byte in text { try expect(byte) }
  }

  private mutating func parseObject(depth: Int) throws(Failure) -> HeaderJSON {
    try expect(UInt8(ascii: "{"))
    var members: [(key: String, value: HeaderJSON)] = []
    var seen = Set<String>()
    skipWhitespace()
    if current == UInt8(ascii: "}") {
      index += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard current == UInt8(ascii: "\"") else { throw .syntax("expected a string key at offset \(index)") }
      let key = try parseString()
      guard seen.insert(key).inserted else { throw .duplicateKey(key) }
      skipWhitespace()
      try expect(UInt8(ascii: ":"))
      skipWhitespace()
      let value = try parseValue(depth: depth + 1)
      members.append((key, value))
      skipWhitespace()
      guard let byte = current else { throw .syntax("unexpected end of header inside an object") }
      index += 1
      if byte == UInt8(ascii: "}") { return .object(members) }
      guard byte == UInt8(ascii: ",") else { throw .syntax("expected ',' or '}' at offset \(index - 1)") }
    }
  }

  private mutating func parseArray(depth: Int) throws(Failure) -> HeaderJSON {
    try expect(UInt8(ascii: "["))
    var elements: [HeaderJSON] = []
    skipWhitespace()
    if current == UInt8(ascii: "]") {
      index += 1
      return .array(elements)
    }
    while true {
      skipWhitespace()
      elements.append(try parseValue(depth: depth + 1))
      skipWhitespace()
      guard let byte = current else { throw .syntax("unexpected end of header inside an array") }
      index += 1
      if byte == UInt8(ascii: "]") { return .array(elements) }
      guard byte == UInt8(ascii: ",") else { throw .syntax("expected ',' or ']' at offset \(index - 1)") }
    }
  }

  private mutating func parseHex4() throws(Failure) -> UInt32 {
    var value: UInt32 = 0
    for _ in 0..<4 {
      guard let byte = current else { throw .syntax("unexpected end of header in \\u escape") }
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw .syntax("invalid \\u escape at offset \(index)")
      }
      value = value << 4 | UInt32(digit)
      index += 1
    }
    return value
  }

  /// Parses a string; the input must already be valid UTF-8.
  private mutating func parseString() throws(Failure) -> String {
    try expect(UInt8(ascii: "\""))
    var utf8: [UInt8] = []
    while true {
      guard let byte = current else { throw .syntax("unterminated string") }
      index += 1
      switch byte {
      case UInt8(ascii: "\""):
        return String(decoding: utf8, as: UTF8.self)
      case UInt8(ascii: "\\"):
        guard let escape = current else { throw .syntax("unterminated string") }
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
          var code = try parseHex4()
          if (0xD800...0xDBFF).contains(code) {
            guard current == UInt8(ascii: "\\") else { throw .syntax("unpaired surrogate in string") }
            index += 1
            guard current == UInt8(ascii: "u") else { throw .syntax("unpaired surrogate in string") }
            index += 1
            let low = try parseHex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw .syntax("unpaired surrogate in string") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
          } else if (0xDC00...0xDFFF).contains(code) {
            throw .syntax("unpaired surrogate in string")
          }
          guard let scalar = Unicode.Scalar(code) else { throw .syntax("invalid \\u escape") }
          utf8.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
          throw .syntax("invalid escape at offset \(index - 1)")
        }
      case 0x00..<0x20:
        throw .syntax("unescaped control character in string at offset \(index - 1)")
      default:
        utf8.append(byte)
      }
    }
  }

  private mutating func parseNumber() throws(Failure) -> HeaderJSON {
    let start = index
    let negative = current == UInt8(ascii: "-")
    if negative { index += 1 }
    var magnitude: UInt64 = 0
    var overflow = false
    guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
      throw .syntax("invalid number at offset \(start)")
    }
    if first == UInt8(ascii: "0") {
      index += 1
    } else {
      while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
        let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
        overflow = overflow || o1 || o2
        magnitude = sum
        index += 1
      }
    }
    var isInteger = true
    if current == UInt8(ascii: ".") {
      isInteger = false
      index += 1
      try skipDigits(required: true)
    }
    if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
      isInteger = false
      index += 1
      if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
      try skipDigits(required: true)
    }
    if isInteger && !overflow { return .integer(negative: negative, magnitude: magnitude) }
    let text = String(decoding: bytes[start..<index], as: UTF8.self)
    guard let value = Double(text) else { throw .syntax("invalid number at offset \(start)") }
    return .number(value)
  }

  private mutating func skipDigits(required: Bool) throws(Failure) {
    let start = index
    while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
    if required && index == start { throw .syntax("expected a digit at offset \(index)") }
  }
}
