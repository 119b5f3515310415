/// Errors thrown by tensor construction and other data-driven tensor APIs.
public enum TensorError: Error, Equatable, CustomStringConvertible {
  /// Values and shape disagree, or two shapes that must match do not.
  case shapeMismatch(String)
  /// A shape is not valid (negative dimension, overflow, wrong rank).
  case invalidShape(String)
  /// An argument is out of its valid range (axis, index, size).
  case invalidArgument(String)

  /// A message naming the problem.
  public var description: String {
    switch self {
    case .shapeMismatch(let m): "shape mismatch: \(m)"
    case .invalidShape(let m): "invalid shape: \(m)"
    case .invalidArgument(let m): "invalid argument: \(m)"
    }
  }
}
