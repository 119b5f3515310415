public import Foundation

/// Namespace for reading and writing safetensors files.
///
/// A safetensors file is an 8-byte little-endian header length `n`, `n` bytes of UTF-8 JSON
/// (an object mapping tensor names to `{"dtype", "shape", "data_offsets"}` plus an optional
/// `"__metadata__"` string-to-string object), then the data section that the tensors tile
/// exactly. Read with ``open(contentsOf:)`` or ``SafeTensorsFile``; write with
/// ``write(_:metadata:to:)``.
public enum SafeTensors {
  /// The reserved header key that holds the string-to-string metadata.
  public static let metadataKey = "__metadata__"

  /// One tensor to write: its name, element type, shape and raw little-endian bytes.
  public typealias Tensor = (name: String, dtype: DType, shape: [Int], bytes: [UInt8])

  /// Opens and validates the safetensors file at `url`; see ``SafeTensorsFile/init(contentsOf:)``.
  public static func open(contentsOf url: URL) throws(SafeTensorsError) -> SafeTensorsFile {
    try SafeTensorsFile(contentsOf: url)
  }
}

/// One tensor's entry in a safetensors header.
public struct SafeTensorInfo: Sendable, Equatable {
  /// The tensor's name (its key in the header).
  public let name: String
  /// The element type.
  public let dtype: DType
  /// The shape; `[]` is a 0-d scalar with one element.
  public let shape: [Int]
  /// `data_offsets` from the header: the byte range relative to the start of the data section.
  public let dataOffsets: Range<Int>

  /// The number of elements (the product of ``shape``; 1 for a scalar).
  public var elementCount: Int { shape.reduce(1, *) }
  /// The number of data bytes (`dataOffsets.count`).
  public var byteCount: Int { dataOffsets.count }
}

/// A validated, read-only safetensors file.
///
/// The initializers validate the entire header (see ``SafeTensorsError/Kind``) before
/// returning; tensor data is then decoded on demand. Opening from a URL memory-maps the
/// file, so only the tensors you decode are read into memory.
public struct SafeTensorsFile: Sendable {
  /// The `__metadata__` object (empty if the header has none).
  public let metadata: [String: String]
  /// Every tensor, in the order the header lists them.
  public let tensors: [SafeTensorInfo]
  /// The header length `n` from the first 8 bytes.
  public let headerLength: Int

  /// The whole file (possibly memory-mapped).
  let storage: Data
  /// Offset of the data section from `storage.startIndex`.
  let dataStart: Int
  /// Index into ``tensors`` by name.
  let indexByName: [String: Int]

  /// The tensor names in header order.
  public var names: [String] { tensors.map(\.name) }

  /// The entry for `name`.
  /// - Throws: ``SafeTensorsError/Kind/tensorNotFound(_:)`` if there is no such tensor.
  public func info(_ name: String) throws(SafeTensorsError) -> SafeTensorInfo {
    guard let index = indexByName[name] else {
      throw SafeTensorsError(
        .tensorNotFound(name),
        "no tensor named `\(name)`; the file holds: \(names.prefix(20).joined(separator: ", "))")
    }
    return tensors[index]
  }

  /// Whether the file holds a tensor named `name`.
  public func contains(_ name: String) -> Bool { indexByName[name] != nil }
}
