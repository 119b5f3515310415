/// Wraps a child module so it can be replaced by path (``Module/replaceModule(at:with:)``).
///
/// ```swift
/// final class Net: Module {
///   @Child var fc1 = Linear(64, 256)
/// }
/// ```
/// A replacement must be an instance of the declared type or a subclass.
@propertyWrapper
public final class Child<M: Module> {
  /// The wrapped module.
  public var wrappedValue: M

  /// Wraps `wrappedValue`.
  public init(wrappedValue: M) { self.wrappedValue = wrappedValue }
}

/// Type-erased access to a ``Child`` wrapper for reflection.
package protocol AnyChildSlot: AnyObject {
  var module: Module { get }
  func replace(with module: Module) throws
}

extension Child: AnyChildSlot {
  package var module: Module { wrappedValue }
  package func replace(with module: Module) throws {
    guard let m = module as? M else {
      throw ModuleError.typeMismatch("a \(type(of: module)) cannot stand in for \(M.self)")
    }
    wrappedValue = m
  }
}
