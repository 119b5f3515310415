/// A residual connection around a body, `x + body(x)`: the small-graph element of
/// architecture files (pre-norm blocks are `Residual([LayerNorm, Linear, GELU, Linear])`).
///
/// The body is a ``Sequential`` child named `body`, so its layers' state-dict names are
/// `body.0.weight`, ... (or the names given to it).
public final class Residual: Module {
  /// The branch added to the input.
  @Child public var body: Sequential

  /// Creates the block around `body`, which must keep the input's shape.
  public init(_ body: Sequential) { self.body = body }

  /// `x + body(x)`.
  public override func forward(_ x: Tensor) -> Tensor { x + body(x) }
  /// A new block around a copy of the body's structure.
  public override func emptyCopy() throws -> Module {
    guard let b = try body.emptyCopy() as? Sequential else { throw ModuleError.notCopyable("Residual body is not a Sequential") }
    return Residual(b)
  }
}
