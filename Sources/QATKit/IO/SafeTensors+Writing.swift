public import Foundation

extension SafeTensors {
  /// Writes `tensors` and `metadata` as a safetensors file at `url`, atomically.
  ///
  /// Layout: tensors appear in the header and in the data section **in the order given**
  /// (data packed back to back from offset 0, no alignment padding). The header is a compact
  /// JSON object with `__metadata__` first (keys sorted; omitted when `metadata` is empty),
  /// padded with spaces so its length is a multiple of 8. Output is deterministic.
  ///
  /// All input is validated before the disk is touched: duplicate or reserved (`__metadata__`)
  /// names, negative dimensions, overflowing shapes and byte counts that differ from
  /// element count × dtype size throw. The write goes through ``AtomicFile``: on error any
  /// existing file at `url` is left unchanged and no temporary file remains.
  public static func write(
    _ tensors: [Tensor], metadata: [String: String] = [:], to url: URL
  ) throws(SafeTensorsError) {
    let header = try header(for: tensors, metadata: metadata)
    try AtomicFile.write(to: url) { handle in
      try handle.write(contentsOf: header)
      for tensor in tensors where !tensor.bytes.isEmpty {
        try handle.write(contentsOf: tensor.bytes)
      }
    }
  }

  /// Converts `Float` values to `dtype` (see ``DType/encode(_:)``) and writes them like
  /// ``write(_:metadata:to:)``.
  ///
  /// - Throws: `.valueCountMismatch` if a tensor's value count differs from its shape's element count.
  public static func write(
    floats tensors: [(name: String, shape: [Int], values: [Float])], as dtype: DType = .f32,
    metadata: [String: String] = [:], to url: URL
  ) throws(SafeTensorsError) {
    try write(try encode(floats: tensors, as: dtype), metadata: metadata, to: url)
  }

  /// The complete file that ``write(_:metadata:to:)`` would write, in memory.
  public static func serialize(
    _ tensors: [Tensor], metadata: [String: String] = [:]
  ) throws(SafeTensorsError) -> [UInt8] {
    var out = try header(for: tensors, metadata: metadata)
    for tensor in tensors { out.append(contentsOf: tensor.bytes) }
    return out
  }

  /// Converts `Float` tensors to ``Tensor`` values of `dtype`.
  public static func encode(
    floats tensors: [(name: String, shape: [Int], values: [Float])], as dtype: DType
  ) throws(SafeTensorsError) -> [Tensor] {
    var result: [Tensor] = []
    for (name, shape, values) in tensors {
      let count = try elementCount(name: name, shape: shape)
      guard count == values.count else {
        throw SafeTensorsError(
          .valueCountMismatch(name, expected: count, actual: values.count),
          "tensor `\(name)` has shape \(shape) (\(count) elements) but \(values.count) values were given")
      }
      result.append((name, dtype, shape, dtype.encode(values)))
    }
    return result
  }

  // MARK: Header

  /// The 8-byte length field plus the padded JSON header, after validating every tensor.
  static func header(for tensors: [Tensor], metadata: [String: String]) throws(SafeTensorsError) -> [UInt8] {
    if metadata[metadataKey] != nil {
      throw SafeTensorsError(.reservedName(metadataKey), "`__metadata__` cannot be a metadata key")
    }
    var seen = Set<String>()
    var json = "{"
    var first = true
    if !metadata.isEmpty {
      json += "\"__metadata__\":{"
      json += metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0] ?? ""))" }
        .joined(separator: ",")
      json += "}"
      first = false
    }
    var offset = 0
    for tensor in tensors {
      let name = tensor.name
      if name == metadataKey {
        throw SafeTensorsError(.reservedName(name), "`__metadata__` is reserved and cannot name a tensor")
      }
      guard seen.insert(name).inserted else {
        throw SafeTensorsError(.duplicateKey(name), "two tensors are named `\(name)`; names must be unique")
      }
      let count = try elementCount(name: name, shape: tensor.shape)
      let (expected, overflow) = count.multipliedReportingOverflow(by: tensor.dtype.byteSize)
      guard !overflow else {
        throw SafeTensorsError(.shapeOverflow(name), "tensor `\(name)` shape \(tensor.shape) is too large")
      }
      guard expected == tensor.bytes.count else {
        throw SafeTensorsError(
          .sizeMismatch(name, expected: expected, actual: tensor.bytes.count),
          "tensor `\(name)` is \(tensor.dtype.rawValue) \(tensor.shape), which needs \(expected) bytes, "
            + "but \(tensor.bytes.count) bytes were given")
      }
      let (end, endOverflow) = offset.addingReportingOverflow(expected)
      guard !endOverflow else {
        throw SafeTensorsError(.shapeOverflow(name), "the data section overflows at tensor `\(name)`")
      }
      if !first { json += "," }
      first = false
      let shape = tensor.shape.map(String.init).joined(separator: ",")
      json += "\(jsonString(name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
      json += "\"data_offsets\":[\(offset),\(end)]}"
      offset = end
    }
    json += "}"
    var headerBytes = Array(json.utf8)
    let padding = (8 - headerBytes.count % 8) % 8
    headerBytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
    var out: [UInt8] = []
    out.reserveCapacity(8 + headerBytes.count)
    let length = UInt64(headerBytes.count)
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
    out.append(contentsOf: headerBytes)
    return out
  }

  private static func elementCount(name: String, shape: [Int]) throws(SafeTensorsError) -> Int {
    var count = 1
    for dim in shape {
      guard dim >= 0 else {
        throw SafeTensorsError(.invalidShape(name), "tensor `\(name)` has negative dimension \(dim) in \(shape)")
      }
      let (product, overflow) = count.multipliedReportingOverflow(by: dim)
      guard !overflow else {
        throw SafeTensorsError(.shapeOverflow(name), "tensor `\(name)` shape \(shape) overflows 64 bits")
      }
      count = product
    }
    return count
  }

  /// `text` as a JSON string literal (quotes, backslash and control characters escaped).
  static func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}
