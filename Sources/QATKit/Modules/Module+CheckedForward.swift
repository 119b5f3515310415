/// Shape problems found during a checked forward pass (``Module/checkedForward(_:)``), instead
/// of traps.
///
/// While a check is active on the current thread (``current``), every quantizer slot checks
/// the input shape against its quantizer (``Quantizer/validate(inputShape:)``) before applying
/// it, and the built-in layers check their input shapes; a problem is recorded and the slot or
/// layer returns a placeholder of the right shape (the input unchanged for a quantizer, zeros
/// for a layer) so that the rest of the pass runs without trapping. The first problem is then
/// thrown. Without an active check nothing changes: forward code stays `model(x)`, and shape
/// mismatches stop with a message, as tensor arithmetic does.
package final class ForwardCheck: @unchecked Sendable {
  /// The check active on this thread, if any.
  @TaskLocal package static var current: ForwardCheck?

  /// One recorded problem: the module, the quantizer slot (`nil` for the layer's own input)
  /// and the error.
  package struct Problem {
    package let module: Module
    package let slot: String?
    package let error: any Error
  }

  /// Problems in the order found.
  package private(set) var problems: [Problem] = []
  /// Quantizers checked even while disabled (the calibration pass disables the quantizers it is
  /// not calibrating but still checks their shapes).
  private let alsoChecked: Set<ObjectIdentifier>
  /// Shapes each quantizer saw (last one), for the calibration pass.
  package private(set) var seenShapes: [ObjectIdentifier: [Int]] = [:]

  /// A check that also checks the given (disabled) quantizers.
  package init(alsoChecking quantizers: [any Quantizer] = []) {
    alsoChecked = Set(quantizers.map { ObjectIdentifier($0) })
  }

  /// Runs `body` with this check active on the current thread.
  package func run<R>(_ body: () throws -> R) rethrows -> R {
    try ForwardCheck.$current.withValue(self) { try body() }
  }

  /// Whether `quantizer` is checked (enabled, or listed at creation).
  package func checks(_ quantizer: any Quantizer) -> Bool {
    // A disabled TensorQuantizer still applies its pre_quant_scale, whose length must fit.
    quantizer.isEnabled || alsoChecked.contains(ObjectIdentifier(quantizer))
      || (quantizer as? TensorQuantizer)?.preQuantScale != nil
  }

  /// Checks `shape` against the quantizer in `slot` of `module`; records a problem and returns
  /// `false` when it does not fit.
  package func admit(_ shape: [Int], to quantizer: any Quantizer, module: Module, slot: String) -> Bool {
    seenShapes[ObjectIdentifier(quantizer)] = shape
    do {
      try quantizer.validate(inputShape: shape)
      return true
    } catch {
      problems.append(Problem(module: module, slot: slot, error: error))
      return false
    }
  }

  /// Records a problem with the input of `module` itself.
  package func record(_ module: Module, _ error: any Error) {
    problems.append(Problem(module: module, slot: nil, error: error))
  }

  /// The first problem as an error naming its path in `root`.
  package func firstError(in root: Module) -> (any Error)? {
    guard let p = problems.first else { return nil }
    let path = root.namedModules().first { $0.1 === p.module }?.0 ?? String(describing: type(of: p.module))
    let full = p.slot.map { path.isEmpty ? $0 : "\(path).\($0)" } ?? path
    switch p.error {
    case QuantizerError.incompatibleInput(let at, let shape, let reason) where at.isEmpty:
      return QuantizerError.incompatibleInput(path: full, shape: shape, reason)
    case ModuleError.incompatibleInput(let at, let shape, let reason) where at.isEmpty:
      return ModuleError.incompatibleInput(path: full.isEmpty ? "<model>" : full, shape: shape, reason)
    default:
      return p.error
    }
  }
}

extension Module {
  /// Runs the forward pass `self(x)`, but throws where a shape that came from a config, a
  /// checkpoint or the data does not fit, instead of trapping.
  ///
  /// Checked: every quantizer against the shape that reaches it (axis in range, block size
  /// dividing the last dimension, a static range with as many entries as the input has groups),
  /// and the input shapes of the built-in layers (`Linear` feature count, `Conv2d` channels and
  /// size, `Embedding` indices, `LayerNorm` width, `MultiHeadAttention`, `SmallCNN`). After a
  /// successful call, `self(x)` with inputs of the same shape does not trap. Use it where data
  /// meets a model: ``Training/fit(_:data:epochs:batchSize:optimizer:seed:schedule:clipNorm:loss:epochEnd:)``
  /// and ``Training/accuracy(_:on:batchSize:)`` do.
  ///
  /// The pass records gradients as `self(x)` does. A layer outside QATKit that traps on its own
  /// input still traps.
  ///
  /// - Throws: ``QuantizerError/incompatibleInput(path:shape:_:)`` naming the quantizer, or
  ///   ``ModuleError/incompatibleInput(path:shape:_:)`` naming the layer, for the first problem.
  public func checkedForward(_ x: Tensor) throws -> Tensor {
    let check = ForwardCheck()
    let y = check.run { self(x) }
    if let error = check.firstError(in: self) { throw error }
    return y
  }

  /// Inside a checked forward pass: records that this module cannot take an input of `shape`
  /// and returns `true` (the layer then returns a placeholder output); outside one, returns
  /// `false` and the layer proceeds (and traps with the kernel's message).
  package func rejectInput(_ shape: [Int], _ reason: @autoclosure () -> String) -> Bool {
    guard let check = ForwardCheck.current else { return false }
    check.record(self, ModuleError.incompatibleInput(path: "", shape: shape, reason()))
    return true
  }
}
