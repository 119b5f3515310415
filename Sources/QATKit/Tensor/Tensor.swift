import Foundation

/// A dense, row-major `Float` tensor that can record the operations applied to it.
///
/// `Tensor` is a class so that optimizers and state loading update parameters in place:
/// a module and its optimizer share the same object. Storage is always contiguous; views
/// (transpose, slice) materialize a copy.
///
/// Operations on tensors with ``requiresGrad`` set (outside ``Tensor/withoutGrad(_:)``)
/// record a backward function; ``backward(_:retainGraph:)`` on a scalar result fills ``grad`` of every leaf
/// that requires it.
///
/// Shape mismatches inside arithmetic are programming errors and stop the program with a
/// message naming both shapes, like an out-of-range array index. Everything that takes data
/// from outside (constructors from arrays, reshape, files, configs, state dicts) throws
/// ``TensorError`` instead.
public final class Tensor {
  /// The extent of each dimension; `[]` for a scalar.
  public private(set) var shape: [Int]
  /// Contiguous row-major values.
  package var storage: [Float]
  /// Whether gradients are accumulated into ``grad`` (leaves) or propagated (results).
  public var requiresGrad: Bool
  /// The accumulated gradient of the last ``backward(_:retainGraph:)`` call, for leaves that require it.
  public var grad: Tensor?
  /// The recorded operation that produced this tensor, if any.
  package var gradFn: GradFn?

  /// Creates a tensor that adopts `storage`; `storage.count` must equal the shape's product.
  package init(shape: [Int], storage: [Float], requiresGrad: Bool = false) {
    precondition(
      shape.reduce(1, *) == storage.count,
      "Tensor: \(storage.count) values do not fill shape \(shape)")
    self.shape = shape
    self.storage = storage
    self.requiresGrad = requiresGrad
  }

  /// Creates a tensor from values and a shape.
  ///
  /// - Throws: ``TensorError/shapeMismatch(_:)`` when `values.count` is not the product of
  ///   `shape`, or ``TensorError/invalidShape(_:)`` when a dimension is negative.
  public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) throws {
    try Tensor.validate(shape: shape)
    guard shape.reduce(1, *) == values.count else {
      throw TensorError.shapeMismatch(
        "\(values.count) values cannot fill shape \(shape) (\(shape.reduce(1, *)) elements)")
    }
    self.init(shape: shape, storage: values, requiresGrad: requiresGrad)
  }

  /// Creates a 1-D tensor from values.
  public convenience init(_ values: [Float], requiresGrad: Bool = false) {
    self.init(shape: [values.count], storage: values, requiresGrad: requiresGrad)
  }

  /// Creates a 2-D tensor from rows of equal length.
  ///
  /// - Throws: ``TensorError/shapeMismatch(_:)`` when the rows differ in length.
  public convenience init(rows: [[Float]]) throws {
    let cols = rows.first?.count ?? 0
    if let bad = rows.firstIndex(where: { $0.count != cols }) {
      throw TensorError.shapeMismatch("row \(bad) has \(rows[bad].count) values, row 0 has \(cols)")
    }
    self.init(shape: [rows.count, cols], storage: rows.flatMap { $0 })
  }

  /// A 0-d tensor holding `value`.
  public convenience init(scalar value: Float, requiresGrad: Bool = false) {
    self.init(shape: [], storage: [value], requiresGrad: requiresGrad)
  }

  /// Number of elements.
  public var count: Int { storage.count }
  /// Number of dimensions.
  public var rank: Int { shape.count }
  /// The values in row-major order.
  public var scalars: [Float] { storage }
  /// The single value of a one-element tensor.
  public var item: Float {
    precondition(storage.count == 1, "item: tensor of shape \(shape) has \(storage.count) elements")
    return storage[0]
  }

  static func validate(shape: [Int]) throws {
    if let d = shape.first(where: { $0 < 0 }) {
      throw TensorError.invalidShape("negative dimension \(d) in \(shape)")
    }
    var total = 1
    for d in shape {
      let (p, o) = total.multipliedReportingOverflow(by: d)
      if o { throw TensorError.invalidShape("element count of \(shape) overflows") }
      total = p
    }
  }

  /// Replaces the values in place, keeping identity (used by optimizers and state loading).
  ///
  /// - Throws: ``TensorError/shapeMismatch(_:)`` when `other` has a different shape.
  public func assign(_ other: Tensor) throws {
    guard other.shape == shape else {
      throw TensorError.shapeMismatch("cannot assign shape \(other.shape) to \(shape)")
    }
    storage = other.storage
  }


  /// Gives the tensor a new shape with the same element count, in place (no autodiff record).
  package func reshapeInPlace(_ newShape: [Int]) {
    precondition(newShape.reduce(1, *) == storage.count)
    shape = newShape
  }

  /// A copy that shares no storage and records no history.
  public func detach() -> Tensor { Tensor(shape: shape, storage: storage) }

  /// A copy with independent storage that keeps `requiresGrad`.
  public func copy() -> Tensor { Tensor(shape: shape, storage: storage, requiresGrad: requiresGrad) }
}

extension Tensor: CustomStringConvertible {
  /// A short summary: shape and up to eight values.
  public var description: String {
    let head = storage.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
    return "Tensor(shape: \(shape), [\(head)\(storage.count > 8 ? ", …" : "")])"
  }
}
