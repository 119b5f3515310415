/// A descriptive error for invalid quantization input (bad bit width, shape, axis, block size, ...).
///
/// Kernels in this module validate their arguments and throw this error instead of trapping.
public struct QuantizationError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The category of a ``QuantizationError``.
  public enum Kind: String, Sendable, Equatable, Codable {
    /// An integer bit width outside `2...8`.
    case invalidBitWidth
    /// A number format that the called kernel does not support.
    case unsupportedFormat
    /// A block size that is not positive or does not divide the last dimension.
    case invalidBlockSize
    /// A channel axis outside `-rank..<rank`.
    case axisOutOfRange
    /// A shape with negative dimensions, or whose element count overflows.
    case invalidShape
    /// A buffer whose element count does not match what the shape or granularity requires.
    case bufferSizeMismatch
    /// Any other invalid scalar parameter (scale, zero point, range, ...).
    case invalidParameter
  }

  /// The category of the error.
  public let kind: Kind
  /// A human-readable explanation that names the offending value.
  public let message: String

  /// Creates an error of the given kind with a descriptive message.
  public init(_ kind: Kind, _ message: String) {
    self.kind = kind
    self.message = message
  }

  /// The error message, prefixed with its kind.
  public var description: String { "QuantizationError.\(kind.rawValue): \(message)" }
}
