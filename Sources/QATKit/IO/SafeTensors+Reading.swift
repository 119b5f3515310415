public import Foundation

extension SafeTensorsFile {
  /// Opens the file at `url` memory-mapped and validates its header.
  ///
  /// - Throws: ``SafeTensorsError`` of kind `.io` if the file cannot be read, or the kind that
  ///   names the first defect found in the file.
  public init(contentsOf url: URL) throws(SafeTensorsError) {
    let data: Data
    do {
      data = try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
      throw SafeTensorsError(.io(url.path), "cannot read \(url.path): \(error.localizedDescription)")
    }
    try self.init(data: data)
  }

  /// Validates and wraps an in-memory safetensors file.
  public init(bytes: [UInt8]) throws(SafeTensorsError) {
    try self.init(data: Data(bytes))
  }

  /// Validates and wraps an in-memory (or memory-mapped) safetensors file.
  ///
  /// Checks, in order: length field; UTF-8; JSON object without duplicate keys; metadata;
  /// each tensor's dtype, shape, offsets and byte size; and that the tensors tile the data
  /// section exactly.
  public init(data: Data) throws(SafeTensorsError) {
    let count = data.count
    guard count >= 8 else {
      throw SafeTensorsError(
        .fileTooShort, "the input is \(count) bytes; a safetensors file starts with an 8-byte header length")
    }
    var n: UInt64 = 0
    for i in 0..<8 {
      n |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i))
    }
    let available = UInt64(count - 8)
    guard n > 0, n <= available else {
      throw SafeTensorsError(
        .headerLengthInvalid(n),
        "the header length field says \(n) bytes but \(available) bytes follow it"
          + (n == 0 ? " (an empty header is not a JSON object)" : "")
          + "; the file is truncated or not a safetensors file")
    }
    let headerLength = Int(n)
    let headerStart = data.startIndex + 8
    let headerBytes = [UInt8](data[headerStart..<(headerStart + headerLength)])
    let parsed = try SafeTensorsHeader.parse(headerBytes, dataLength: count - 8 - headerLength)

    self.metadata = parsed.metadata
    self.tensors = parsed.tensors
    self.headerLength = headerLength
    self.storage = data
    self.dataStart = 8 + headerLength
    var index: [String: Int] = [:]
    for (i, tensor) in parsed.tensors.enumerated() { index[tensor.name] = i }
    self.indexByName = index
  }
}

/// Header validation, separate from I/O so it can be tested on bytes.
enum SafeTensorsHeader {
  /// Parses and validates header bytes against a data section of `dataLength` bytes.
  static func parse(
    _ headerBytes: [UInt8], dataLength: Int
  ) throws(SafeTensorsError) -> (metadata: [String: String], tensors: [SafeTensorInfo]) {
    guard String(validating: headerBytes, as: UTF8.self) != nil else {
      throw SafeTensorsError(.headerNotUTF8, "the JSON header is not valid UTF-8")
    }
    let root: HeaderJSON
    do {
      root = try HeaderJSONParser.parse(headerBytes)
    } catch {
      switch error {
      case .duplicateKey(let key):
        throw SafeTensorsError(
          .duplicateKey(key), "the header has the key `\(key)` more than once; each tensor name must be unique")
      case .syntax(let detail):
        throw SafeTensorsError(.headerNotJSON, "the header is not valid JSON: \(detail)")
      }
    }
    guard case .object(let members) = root else {
      throw SafeTensorsError(.headerNotObject, "the JSON header must be an object mapping tensor names to entries")
    }

    var metadata: [String: String] = [:]
    var tensors: [SafeTensorInfo] = []
    var spans: [(begin: Int, end: Int, index: Int)] = []
    for (key, value) in members {
      if key == SafeTensors.metadataKey {
        metadata = try parseMetadata(value)
        continue
      }
      let info = try parseTensor(name: key, value)
      spans.append((info.dataOffsets.lowerBound, info.dataOffsets.upperBound, tensors.count))
      tensors.append(info)
    }
    try checkTiling(spans, tensors: tensors, dataLength: dataLength)
    return (metadata, tensors)
  }

  private static func parseMetadata(_ value: HeaderJSON) throws(SafeTensorsError) -> [String: String] {
    guard case .object(let pairs) = value else {
      throw SafeTensorsError(.metadataNotStrings, "`__metadata__` must be an object of string values")
    }
    var result: [String: String] = [:]
    for (key, entry) in pairs {
      guard case .string(let text) = entry else {
        throw SafeTensorsError(
          .metadataNotStrings, "`__metadata__` value for `\(key)` is not a string; only string values are allowed")
      }
      result[key] = text
    }
    return result
  }

  private static func parseTensor(
    name: String, _ value: HeaderJSON
  ) throws(SafeTensorsError) -> SafeTensorInfo {
    guard case .object(let fields) = value else {
      throw SafeTensorsError(.invalidEntry(name), "the entry for tensor `\(name)` is not a JSON object")
    }
    var dtypeValue: HeaderJSON?
    var shapeValue: HeaderJSON?
    var offsetsValue: HeaderJSON?
    for (key, field) in fields {
      switch key {
      case "dtype": dtypeValue = field
      case "shape": shapeValue = field
      case "data_offsets": offsetsValue = field
      default: continue  // unknown fields are ignored, as the reference implementation does
      }
    }
    guard case .string(let dtypeName) = dtypeValue else {
      throw SafeTensorsError(.invalidEntry(name), "tensor `\(name)` has no `dtype` string")
    }
    guard let dtype = DType(rawValue: dtypeName) else {
      let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
      throw SafeTensorsError(
        .unknownDType(name, dtypeName), "tensor `\(name)` has unknown dtype `\(dtypeName)`; supported: \(known)")
    }
    guard case .array(let dims) = shapeValue else {
      throw SafeTensorsError(.invalidShape(name), "tensor `\(name)` has no `shape` array")
    }
    var shape: [Int] = []
    shape.reserveCapacity(dims.count)
    for dim in dims {
      guard case .integer(let negative, let magnitude) = dim, !negative || magnitude == 0 else {
        throw SafeTensorsError(
          .invalidShape(name), "tensor `\(name)` has a shape entry that is not a non-negative integer")
      }
      guard let size = Int(exactly: magnitude) else {
        throw SafeTensorsError(.shapeOverflow(name), "tensor `\(name)` has a dimension of \(magnitude), too large")
      }
      shape.append(size)
    }
    guard case .array(let offsets) = offsetsValue, offsets.count == 2,
      case .integer(let beginNegative, let beginMagnitude) = offsets[0],
      case .integer(let endNegative, let endMagnitude) = offsets[1],
      !beginNegative || beginMagnitude == 0, !endNegative || endMagnitude == 0,
      beginMagnitude <= endMagnitude
    else {
      throw SafeTensorsError(
        .offsetsInvalid(name),
        "tensor `\(name)` needs `data_offsets` [begin, end] of non-negative integers with begin <= end")
    }
    guard let begin = Int(exactly: beginMagnitude), let end = Int(exactly: endMagnitude) else {
      throw SafeTensorsError(.offsetsOutOfRange(name), "tensor `\(name)` has data offsets beyond any file size")
    }
    var elements = 1
    for dim in shape {
      let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
      guard !overflow else {
        throw SafeTensorsError(
          .shapeOverflow(name), "tensor `\(name)` shape \(shape): the element count overflows 64 bits")
      }
      elements = product
    }
    let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
    guard !overflow else {
      throw SafeTensorsError(
        .shapeOverflow(name), "tensor `\(name)` shape \(shape) × \(dtype.byteSize) bytes overflows 64 bits")
    }
    let actual = end - begin
    guard expected == actual else {
      throw SafeTensorsError(
        .sizeMismatch(name, expected: expected, actual: actual),
        "tensor `\(name)` is \(dtype.rawValue) \(shape) (\(expected) bytes) but its data_offsets span \(actual) bytes")
    }
    return SafeTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
  }

  /// Sorted by begin, the tensors must tile `[0, dataLength)` exactly.
  private static func checkTiling(
    _ spans: [(begin: Int, end: Int, index: Int)], tensors: [SafeTensorInfo], dataLength: Int
  ) throws(SafeTensorsError) {
    let sorted = spans.sorted { ($0.begin, $0.end, $0.index) < ($1.begin, $1.end, $1.index) }
    var cursor = 0
    for span in sorted {
      let name = tensors[span.index].name
      if span.begin > dataLength {
        throw SafeTensorsError(
          .offsetsOutOfRange(name),
          "tensor `\(name)` starts at data offset \(span.begin) but the data section is \(dataLength) bytes")
      }
      if span.end > dataLength {
        throw SafeTensorsError(
          .truncated(name),
          "the file ends inside tensor `\(name)` (needs data up to \(span.end), has \(dataLength)); it is truncated")
      }
      if span.begin < cursor {
        throw SafeTensorsError(
          .overlap(name), "tensor `\(name)` starts at \(span.begin), inside the previous tensor (ends at \(cursor))")
      }
      if span.begin > cursor {
        throw SafeTensorsError(
          .gap(name), "bytes \(cursor)..<\(span.begin) before tensor `\(name)` belong to no tensor")
      }
      cursor = span.end
    }
    if cursor != dataLength {
      throw SafeTensorsError(
        .notFullyCovered,
        "the tensors cover \(cursor) of the \(dataLength) data bytes; bytes after the last tensor belong to no tensor")
    }
  }
}
