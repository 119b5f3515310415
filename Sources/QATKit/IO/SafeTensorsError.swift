/// An error reading or writing a safetensors file.
///
/// ``kind`` names the defect so callers and tests can match on it; ``message`` is a
/// human-readable sentence saying what is wrong and, where useful, what to do about it.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The defect that was found.
  public enum Kind: Equatable, Sendable {
    /// The input is shorter than the 8-byte header length field.
    case fileTooShort
    /// The header length field is 0 or larger than the bytes that follow it.
    case headerLengthInvalid(UInt64)
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8
    /// The header is not valid JSON (or nests deeper than the parser allows).
    case headerNotJSON
    /// The header is valid JSON but not an object.
    case headerNotObject
    /// A JSON object in the header has the same key twice.
    case duplicateKey(String)
    /// `__metadata__` is not an object mapping strings to strings.
    case metadataNotStrings
    /// A tensor entry is not an object or lacks a `dtype` string.
    case invalidEntry(String)
    /// A tensor's `dtype` is not a known name (tensor, dtype).
    case unknownDType(String, String)
    /// A tensor's `shape` is not an array of non-negative integers.
    case invalidShape(String)
    /// A tensor's element count or byte count overflows 64-bit arithmetic.
    case shapeOverflow(String)
    /// A tensor's byte span does not equal element count × dtype size (tensor, expected, actual).
    case sizeMismatch(String, expected: Int, actual: Int)
    /// A tensor's `data_offsets` is not two non-negative integers with `begin <= end`.
    case offsetsInvalid(String)
    /// A tensor's data starts beyond the end of the data section.
    case offsetsOutOfRange(String)
    /// The file ends inside a tensor's data.
    case truncated(String)
    /// A tensor's data overlaps the previous tensor's data.
    case overlap(String)
    /// Bytes between the previous tensor and this one belong to no tensor.
    case gap(String)
    /// Bytes after the last tensor belong to no tensor.
    case notFullyCovered
    /// No tensor of this name exists.
    case tensorNotFound(String)
    /// The tensor's dtype cannot be decoded as the requested type (tensor, dtype, requested).
    case dtypeMismatch(String, DType, String)
    /// A stored value does not fit the requested integer type.
    case valueOutOfRange(String)
    /// A name that the format reserves (`__metadata__`) was used for a tensor or metadata key.
    case reservedName(String)
    /// The number of values given for a tensor does not match its shape (tensor, expected, actual).
    case valueCountMismatch(String, expected: Int, actual: Int)
    /// A file system operation failed.
    case io(String)
  }

  /// The defect that was found.
  public let kind: Kind
  /// What is wrong, and where useful, what to do.
  public let message: String

  /// Creates an error of the given kind with an explanatory message.
  public init(_ kind: Kind, _ message: String) {
    self.kind = kind
    self.message = message
  }

  /// The message, prefixed with `safetensors:`.
  public var description: String { "safetensors: \(message)" }
}
