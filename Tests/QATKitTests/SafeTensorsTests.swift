import Foundation
import Testing

#if canImport(QATKit)
  @testable import QATKit
#else
  @testable import STKit
#endif

// MARK: - Fixture helpers

private enum Fixture {
  static func directory() throws -> URL {
    let root = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    return root.appendingPathComponent("safetensors")
  }

  static func url(_ name: String) throws -> URL {
    try directory().appendingPathComponent(name)
  }

  /// Parses a fixture JSON file with the exact-integer header parser.
  static func json(_ name: String) throws -> HeaderJSON {
    let bytes = try [UInt8](Data(contentsOf: url(name)))
    return try HeaderJSONParser.parse(bytes)
  }
}

extension HeaderJSON {
  subscript(_ key: String) -> HeaderJSON? {
    guard case .object(let members) = self else { return nil }
    return members.first { $0.key == key }?.value
  }

  var members: [(key: String, value: HeaderJSON)] {
    if case .object(let members) = self { return members }
    return []
  }

  var elements: [HeaderJSON] {
    if case .array(let elements) = self { return elements }
    return []
  }

  var stringValue: String? {
    if case .string(let text) = self { return text }
    return nil
  }

  var intValue: Int? {
    if case .integer(let negative, let magnitude) = self, let value = Int(exactly: magnitude) {
      return negative ? -value : value
    }
    return nil
  }

  /// The value as Double: numbers, integers, and "inf" / "-inf" / "nan".
  var doubleValue: Double? {
    switch self {
    case .number(let value): return value
    case .integer(let negative, let magnitude): return negative ? -Double(magnitude) : Double(magnitude)
    case .string("inf"): return .infinity
    case .string("-inf"): return -.infinity
    case .string("nan"): return .nan
    default: return nil
    }
  }
}

private func hexBytes(_ hex: String) -> [UInt8] {
  let digits = Array(hex.utf8)
  return stride(from: 0, to: digits.count - 1, by: 2).compactMap {
    UInt8(String(decoding: digits[$0...($0 + 1)], as: UTF8.self), radix: 16)
  }
}

/// Fixed-seed SplitMix64 so fuzz runs are reproducible.
private struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

private func temporaryDirectory() throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("st-tests-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

private func sameBits(_ a: Double, _ b: Double) -> Bool {
  a.isNaN ? b.isNaN : a.bitPattern == b.bitPattern
}

// MARK: - Reading the dtype fixtures

@Suite("SafeTensors")
struct SafeTensorsTests {
  @Test("reads every tensor of the dtype fixtures bit-exactly", arguments: ["dtypes", "dtypes_extra"])
  func readsDTypeFixture(_ stem: String) throws {
    let expected = try Fixture.json("\(stem).json")
    let file = try SafeTensorsFile(contentsOf: Fixture.url("\(stem).safetensors"))

    #expect(file.headerLength == expected["header_length"]?.intValue)
    #expect(file.names == expected["header_order"]?.elements.compactMap(\.stringValue))
    var metadata: [String: String] = [:]
    for (key, value) in expected["metadata"]?.members ?? [] { metadata[key] = value.stringValue }
    #expect(file.metadata == metadata)

    let tensors = try #require(expected["tensors"]).members
    #expect(tensors.count == file.tensors.count)
    for (name, entry) in tensors {
      let info = try file.info(name)
      #expect(info.dtype.rawValue == entry["dtype"]?.stringValue, "\(name)")
      #expect(info.shape == entry["shape"]?.elements.compactMap(\.intValue), "\(name)")
      let offsets = entry["data_offsets"]?.elements.compactMap(\.intValue) ?? []
      #expect([info.dataOffsets.lowerBound, info.dataOffsets.upperBound] == offsets, "\(name)")
      #expect(try file.rawBytes(name) == hexBytes(entry["bytes_hex"]?.stringValue ?? "?"), "\(name)")

      let values = entry["values"]?.elements ?? []
      #expect(info.elementCount == values.count, "\(name)")
      if info.dtype.isFloatingPoint {
        let doubles = try file.doubles(name)
        let floats = try file.floats(name)
        for (i, value) in values.enumerated() {
          let want = try #require(value.doubleValue)
          #expect(sameBits(doubles[i], want), "\(name)[\(i)]: \(doubles[i]) vs \(want)")
          if info.dtype != .f64 {
            #expect(sameBits(Double(floats[i]), want), "\(name)[\(i)] as Float")
          }
        }
        if info.dtype == .f64 {
          let widened = try file.floats(name)
          for (i, value) in values.enumerated() {
            let want = Float(try #require(value.doubleValue))
            #expect(widened[i].isNaN ? want.isNaN : widened[i].bitPattern == want.bitPattern, "\(name)[\(i)]")
          }
        }
        #expect(throws: SafeTensorsError.self) { try file.int64s(name) }
      } else if info.dtype == .u64 {
        let got = try file.uint64s(name)
        for (i, value) in values.enumerated() {
          guard case .integer(false, let magnitude) = value else { Issue.record("bad value"); continue }
          #expect(got[i] == magnitude, "\(name)[\(i)]")
        }
      } else {
        let got = try file.int64s(name)
        for (i, value) in values.enumerated() {
          guard case .integer(let negative, let magnitude) = value else { Issue.record("bad value"); continue }
          let want = negative ? Int64(truncatingIfNeeded: 0 &- magnitude) : Int64(truncatingIfNeeded: magnitude)
          #expect(got[i] == want, "\(name)[\(i)]")
        }
        if case .bool(true)? = entry["exact_as_float64"] {
          #expect(try file.doubles(name) == got.map(Double.init), "\(name)")
        }
      }
    }
    #expect(throws: SafeTensorsError.self) { try file.floats("no such tensor") }
  }

  @Test("re-serializing a fixture in its header order reproduces the reference writer's bytes",
        arguments: ["dtypes", "dtypes_extra"])
  func matchesReferenceWriter(_ stem: String) throws {
    let original = try [UInt8](Data(contentsOf: Fixture.url("\(stem).safetensors")))
    let file = try SafeTensorsFile(bytes: original)
    let tensors: [SafeTensors.Tensor] = try file.tensors.map { ($0.name, $0.dtype, $0.shape, try file.rawBytes($0.name)) }
    #expect(try SafeTensors.serialize(tensors, metadata: file.metadata) == original)
  }

  // MARK: - Malformed files

  /// The kind each malformed fixture must be rejected with.
  static let malformedExpectations: [String: SafeTensorsError.Kind] = [
    "truncated_data.safetensors": .truncated("b"),
    "header_length_exceeds_file.safetensors": .headerLengthInvalid(4096 + 112),
    "header_length_u64_max.safetensors": .headerLengthInvalid(.max),
    "header_not_json.safetensors": .headerNotJSON,
    "header_not_utf8.safetensors": .headerNotUTF8,
    "header_not_object.safetensors": .headerNotObject,
    "header_length_zero.safetensors": .headerLengthInvalid(0),
    "file_shorter_than_8_bytes.safetensors": .fileTooShort,
    "data_offsets_out_of_range.safetensors": .offsetsOutOfRange("a"),
    "data_offsets_begin_after_end.safetensors": .offsetsInvalid("a"),
    "data_offsets_overlap.safetensors": .overlap("b"),
    "data_offsets_gap.safetensors": .gap("b"),
    "trailing_bytes_after_data.safetensors": .notFullyCovered,
    "dtype_unknown.safetensors": .unknownDType("a", "F12"),
    "shape_size_mismatch.safetensors": .sizeMismatch("a", expected: 24, actual: 16),
    "shape_negative.safetensors": .invalidShape("a"),
    "shape_product_overflow.safetensors": .shapeOverflow("a"),
    "duplicate_tensor_names.safetensors": .duplicateKey("a"),
    "metadata_not_string.safetensors": .metadataNotStrings,
  ]

  @Test("every malformed fixture is listed in expected.json and has an expectation")
  func malformedListIsComplete() throws {
    let directory = try Fixture.directory().appendingPathComponent("malformed")
    let onDisk = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path)
      .filter { $0.hasSuffix(".safetensors") })
    let listed = Set(try Fixture.json("malformed/expected.json")["files"]?.members.map(\.key) ?? [])
    #expect(onDisk.count == 19)
    #expect(onDisk == listed)
    #expect(onDisk == Set(Self.malformedExpectations.keys))
  }

  @Test("each malformed fixture is rejected with its specific error",
        arguments: SafeTensorsTests.malformedExpectations.keys.sorted())
  func rejectsMalformed(_ name: String) throws {
    let url = try Fixture.url("malformed/\(name)")
    let expectedKind = try #require(Self.malformedExpectations[name])
    let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(contentsOf: url) }
    #expect(error?.kind == expectedKind, "\(name): \(error?.message ?? "no error")")
    #expect(error?.message.isEmpty == false)
    // The same bytes through the in-memory path give the same verdict.
    let bytes = try [UInt8](Data(contentsOf: url))
    let again = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(bytes: bytes) }
    #expect(again == error)
  }

  // MARK: - Round trips

  @Test("write then read is bit-exact for every dtype, incl. empty and 0-d tensors",
        arguments: DType.allCases)
  func roundTrip(_ dtype: DType) throws {
    var rng = SplitMix64(state: UInt64(dtype.byteSize) &* 0x1234_5678 &+ UInt64(dtype.rawValue.utf8.count))
    func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }
    let shapes: [[Int]] = [[2, 3], [], [0, 4], [0], [5], [1, 1, 7]]
    let tensors: [SafeTensors.Tensor] = shapes.enumerated().map { i, shape in
      ("t\(i)", dtype, shape, randomBytes(shape.reduce(1, *) * dtype.byteSize))
    }
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("rt.safetensors")
    try SafeTensors.write(tensors, metadata: ["dtype": dtype.rawValue], to: url)

    let file = try SafeTensors.open(contentsOf: url)
    #expect(file.names == tensors.map(\.name))
    #expect(file.metadata == ["dtype": dtype.rawValue])
    #expect(file.headerLength % 8 == 0)
    for tensor in tensors {
      let info = try file.info(tensor.name)
      #expect(info.dtype == dtype)
      #expect(info.shape == tensor.shape)
      #expect(try file.rawBytes(tensor.name) == tensor.bytes)
      #expect(try file.floats(tensor.name).count == info.elementCount)
      #expect(try file.doubles(tensor.name).count == info.elementCount)
      try file.withRawBytes(tensor.name) { #expect(Array($0) == tensor.bytes) }
    }
    #expect(try SafeTensors.serialize(tensors, metadata: ["dtype": dtype.rawValue])
      == [UInt8](Data(contentsOf: url)))
  }

  @Test("Float tensors written as each dtype decode to the encoded values")
  func floatConvenience() throws {
    let values: [Float] = [0, -0.0, 1, -2.5, 0.1, 300, -1e6, .infinity, .nan, 1.0 / 3]
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    for dtype in DType.allCases {
      let url = directory.appendingPathComponent("\(dtype.rawValue).safetensors")
      try SafeTensors.write(floats: [("w", [2, 5], values), ("s", [], [-3])], as: dtype, to: url)
      let file = try SafeTensorsFile(contentsOf: url)
      #expect(try file.rawBytes("w") == dtype.encode(values), "\(dtype)")
      #expect(try file.floats("s") == [dtype.rawValue.hasPrefix("U") ? 0 : dtype == .bool ? 1 : -3], "\(dtype)")
      if dtype == .f32 {
        #expect(try file.floats("w").map(\.bitPattern).prefix(8) == values.map(\.bitPattern).prefix(8))
      }
    }
    #expect(throws: SafeTensorsError.self) {
      try SafeTensors.write(floats: [("w", [3], [1, 2])], to: directory.appendingPathComponent("x"))
    }
  }

  @Test("metadata round-trips, incl. escapes and non-ASCII")
  func metadataRoundTrip() throws {
    let metadata = [
      "quote\"back\\slash": "line\nbreak\ttab\u{01}", "unicode ü 量子": "✓ 🚀", "empty": "", "format": "pt",
    ]
    let bytes = try SafeTensors.serialize([("x", .u8, [2], [1, 2])], metadata: metadata)
    let file = try SafeTensorsFile(bytes: bytes)
    #expect(file.metadata == metadata)
    #expect(try file.uint64s("x") == [1, 2])
    let empty = try SafeTensorsFile(bytes: try SafeTensors.serialize([], metadata: [:]))
    #expect(empty.tensors.isEmpty && empty.metadata.isEmpty)
  }

  // MARK: - Writer validation and atomicity

  @Test("the writer rejects bad input before touching disk")
  func writerValidation() throws {
    let cases: [([SafeTensors.Tensor], [String: String], SafeTensorsError.Kind)] = [
      ([("a", .f32, [2], [0, 0, 0, 0])], [:], .sizeMismatch("a", expected: 8, actual: 4)),
      ([("a", .u8, [1], [0]), ("a", .u8, [1], [0])], [:], .duplicateKey("a")),
      ([("__metadata__", .u8, [1], [0])], [:], .reservedName("__metadata__")),
      ([("a", .u8, [1], [0])], ["__metadata__": "x"], .reservedName("__metadata__")),
      ([("a", .u8, [-1, -1], [0])], [:], .invalidShape("a")),
      ([("a", .u8, [Int.max, 2], [])], [:], .shapeOverflow("a")),
    ]
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("bad.safetensors")
    for (tensors, metadata, kind) in cases {
      let error = #expect(throws: SafeTensorsError.self) { try SafeTensors.write(tensors, metadata: metadata, to: url) }
      #expect(error?.kind == kind)
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
  }

  @Test("a failed write leaves the old file byte-identical and no temporary file behind")
  func atomicWrite() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let url = directory.appendingPathComponent("model.safetensors")
    try SafeTensors.write(floats: [("w", [2], [1, 2])], metadata: ["v": "1"], to: url)
    let before = try Data(contentsOf: url)

    #expect(throws: SafeTensorsError.self) {
      try SafeTensors.write([("w", .f32, [2], [1, 2, 3])], to: url)
    }
    // A failure inside the atomic writer itself (after the temp file exists).
    struct Boom: Error {}
    #expect(throws: SafeTensorsError.self) {
      try AtomicFile.write(to: url) { handle in
        try handle.write(contentsOf: [1, 2, 3])
        throw Boom()
      }
    }
    #expect(try Data(contentsOf: url) == before)
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])

    // A successful overwrite replaces it.
    try SafeTensors.write(floats: [("w", [1], [5])], to: url)
    #expect(try SafeTensorsFile(contentsOf: url).floats("w") == [5])
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.safetensors"])
  }

  @Test("writing into a missing directory throws an io error; reading a missing file too")
  func missingDirectory() throws {
    let url = FileManager.default.temporaryDirectory
      .appendingPathComponent("st-missing-\(UUID().uuidString)/model.safetensors")
    let error = #expect(throws: SafeTensorsError.self) { try SafeTensors.write(floats: [("w", [1], [1])], to: url) }
    #expect(error?.kind == .io(url.standardizedFileURL.path))
    let readError = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(contentsOf: url) }
    if case .io = readError?.kind {} else { Issue.record("expected io error, got \(String(describing: readError))") }
  }

  // MARK: - Conversions

  @Test("Float encoders round to nearest even and handle overflow, NaN and subnormals")
  func encoders() {
    #expect(DType.f16.encode([65504, 65519, 65520, 1e9, -.infinity]) == [0xFF, 0x7B, 0xFF, 0x7B, 0x00, 0x7C, 0x00, 0x7C, 0x00, 0xFC])
    #expect(DType.f16.encode([0x1p-24, 0x1p-25, 0x1.8p-25, 1.0 / 3]) == [0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x55, 0x35])
    #expect(DType.bf16.encode([1.0 / 3, 1 + 0x1p-8, 1 + 0x1.8p-7, 1 + 0x1.8p-8]) == [0xAB, 0x3E, 0x80, 0x3F, 0x82, 0x3F, 0x81, 0x3F])
    #expect(DType.f8E4M3.encode([448, 464, 480, 1e6, -.infinity, .nan, 0x1p-9, 0x1p-10, -0.0])
      == [0x7E, 0x7E, 0x7E, 0x7E, 0xFE, 0x7F, 0x01, 0x00, 0x80])
    #expect(DType.f8E5M2.encode([57344, 61440, .infinity, .nan, 0x1p-16, 1.125, 1.375])
      == [0x7B, 0x7C, 0x7C, 0x7E, 0x01, 0x3C, 0x3E])
    #expect(DType.i8.encode([-200, -128.5, 2.5, 3.5, 127.4, 1000, .nan]) == [0x80, 0x80, 2, 4, 127, 127, 0])
    #expect(DType.u8.encode([-1, 254.5, 255.5, 0.5]) == [0, 254, 255, 0])
    #expect(DType.i64.encode([1e30]) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
    #expect(DType.bool.encode([0, -0.0, 2, .nan]) == [0, 0, 1, 0])
  }

  @Test("every non-NaN 8- and 16-bit float code decodes and re-encodes to itself")
  func minifloatCodesRoundTrip() {
    for code in UInt32(0)...0xFF {
      for format in [Minifloat.e4m3fn, Minifloat.e5m2] {
        let value = Minifloat.decode(code, format)
        if value.isNaN { continue }
        #expect(Minifloat.encode(value, format) == code, "code \(code)")
      }
    }
    var failures = 0
    for code in UInt32(0)...0xFFFF {
      let half = Minifloat.decode(code, Minifloat.half)
      if !half.isNaN, Minifloat.encode(half, Minifloat.half) != code { failures += 1 }
      let bf = Minifloat.float(bfloat16: UInt16(code))
      if !bf.isNaN, Minifloat.bfloat16(bf) != UInt16(code) { failures += 1 }
    }
    #expect(failures == 0)
    #expect(Minifloat.decode(0x7F, Minifloat.e4m3fn).isNaN && Minifloat.decode(0xFF, Minifloat.e4m3fn).isNaN)
  }

  // MARK: - Header parser

  @Test("the header parser rejects duplicate keys at any depth, deep nesting and bad escapes")
  func headerParser() throws {
    func parse(_ text: String) throws(HeaderJSONParser.Failure) -> HeaderJSON {
      try HeaderJSONParser.parse(Array(text.utf8))
    }
    #expect(throws: HeaderJSONParser.Failure.self) { try parse(#"{"a":{"x":1,"x":2}}"#) }
    #expect(throws: HeaderJSONParser.Failure.self) { try parse(String(repeating: "[", count: 100_000)) }
    #expect(throws: HeaderJSONParser.Failure.self) { try parse(#"{"a":"\ud800"}"#) }
    #expect(throws: HeaderJSONParser.Failure.self) { try parse("{\"a\":\"\u{01}\"}") }
    #expect(throws: HeaderJSONParser.Failure.self) { try parse(#"{"a":01}"#) }
    #expect(throws: HeaderJSONParser.Failure.self) { try parse(#"{"a":1} x"#) }
    let value = try parse(#" {"k":"\u00e9\ud83d\ude80\n","n":[18446744073709551615,-3,1.5,true,null]}  "#)
    #expect(value["k"]?.stringValue == "é🚀\n")
    let numbers = value["n"]?.elements ?? []
    guard numbers.count == 5, case .integer(false, .max) = numbers[0], case .integer(true, 3) = numbers[1],
      case .number(1.5) = numbers[2], case .bool(true) = numbers[3], case .null = numbers[4]
    else {
      Issue.record("unexpected parse: \(numbers)")
      return
    }
  }

  @Test("shapes and offsets that are bools, floats or huge are rejected")
  func headerFieldTypes() throws {
    func file(_ header: String, data: Int = 4) -> [UInt8] {
      let json = Array(header.utf8)
      var out: [UInt8] = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * UInt64($0))) }
      out += json
      out += [UInt8](repeating: 0, count: data)
      return out
    }
    let cases: [(String, SafeTensorsError.Kind)] = [
      (#"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, .invalidShape("a")),
      (#"{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, .invalidShape("a")),
      (#"{"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}"#, .invalidShape("a")),
      (#"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}"#, .invalidShape("a")),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}"#, .offsetsInvalid("a")),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, .offsetsInvalid("a")),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,false]}}"#, .offsetsInvalid("a")),
      (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}}"#,
       .offsetsOutOfRange("a")),
      (#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, .invalidEntry("a")),
      (#"{"a":[1]}"#, .invalidEntry("a")),
      (#"{"__metadata__":"x"}"#, .metadataNotStrings),
      (#"{"__metadata__":{"k":"v"},"__metadata__":{}}"#, .duplicateKey("__metadata__")),
    ]
    for (header, kind) in cases {
      let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(bytes: file(header)) }
      #expect(error?.kind == kind, "\(header)")
    }
    let ok = try SafeTensorsFile(bytes: file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}  "#))
    #expect(try ok.floats("a") == [0])
  }

  // MARK: - Fuzz

  @Test("300 seeded mutations of a valid file never crash: they throw or yield consistent tensors")
  func fuzz() throws {
    let original = try [UInt8](Data(contentsOf: Fixture.url("dtypes.safetensors")))
    var rng = SplitMix64(state: 0x5EED_5AFE_7E45_0001)
    var accepted = 0
    for _ in 0..<300 {
      var bytes = original
      for _ in 0..<Int.random(in: 1...4, using: &rng) {
        // Bias towards the length field and header, where the parser lives.
        let limit = Bool.random(using: &rng) ? min(bytes.count, 1128) : bytes.count
        let position = limit > 0 ? Int.random(in: 0..<limit, using: &rng) : 0
        switch Int.random(in: 0..<6, using: &rng) {
        case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
        case 1 where !bytes.isEmpty: bytes[position] = UInt8.random(in: 0...255, using: &rng)
        case 2: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
        case 3: bytes.insert(contentsOf: (0..<Int.random(in: 1...9, using: &rng)).map { _ in
            UInt8.random(in: 0...255, using: &rng) }, at: min(position, bytes.count))
        case 4 where !bytes.isEmpty:
          let digits = Array("0123456789-.e[]{},\"".utf8)
          bytes[position] = digits[Int.random(in: 0..<digits.count, using: &rng)]
        default: if !bytes.isEmpty { bytes.remove(at: min(position, bytes.count - 1)) }
        }
      }
      guard let file = try? SafeTensorsFile(bytes: bytes) else { continue }
      accepted += 1
      var covered = 0
      for info in file.tensors {
        #expect(info.byteCount == info.elementCount * info.dtype.byteSize)
        #expect(try file.rawBytes(info.name).count == info.byteCount)
        #expect(try file.floats(info.name).count == info.elementCount)
        #expect(try file.doubles(info.name).count == info.elementCount)
        if let ints = try? file.int64s(info.name) { #expect(ints.count == info.elementCount) }
        covered += info.byteCount
      }
      #expect(8 + file.headerLength + covered == bytes.count)
    }
    #expect(accepted < 300)
  }
}
