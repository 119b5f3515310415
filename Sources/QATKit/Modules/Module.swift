/// The base class of every layer and model.
///
/// A module owns named parameters (stored properties of type ``Tensor`` or `Tensor?`) and
/// named children (stored properties of type ``Module``, `Module?`, `[Module]`, or wrapped in
/// ``Child``), discovered by reflection as MLX Swift's MLXNN does. Paths are dotted, in
/// PyTorch's naming: `fc1.weight`, `layers.0.attention.query.weight`.
///
/// Subclasses implement ``forward(_:)``; callers use `module(x)`, which also runs output
/// hooks (used to capture intermediate outputs for distillation).
///
/// Quantizable layers have *quantizer slots* (`input_quantizer`, `weight_quantizer`, ...)
/// that ``Module/setQuantizer(_:slot:)`` fills; a layer applies a slot with
/// ``Module/quantize(_:slot:)``, which is the identity while the slot is empty.
open class Module {
  /// Whether the module is in training mode (affects dropout).
  public private(set) var training = true
  /// Filled quantizer slots, in insertion order.
  package var quantizerSlots: [(name: String, quantizer: any Quantizer)] = []
  /// Observers called with the output of every call (see ``Module/addOutputHook(_:)``).
  package var outputHooks: [(id: Int, hook: (Tensor) -> Void)] = []
  private var nextHookID = 0
  /// The modes applied to this model, in order (kept on the root module by `convert`).
  public package(set) var modeHistory: [ModeRecord] = []

  /// Creates an empty module.
  public init() {}

  /// The computation of the module; override in subclasses.
  open func forward(_ x: Tensor) -> Tensor {
    preconditionFailure("\(type(of: self)) does not implement forward(_:)")
  }

  /// Runs ``forward(_:)`` and then the output hooks.
  public final func callAsFunction(_ x: Tensor) -> Tensor {
    let y = forward(x)
    for (_, hook) in outputHooks { hook(y) }
    return y
  }

  /// Registers an observer of this module's outputs and returns a token to remove it.
  @discardableResult
  public func addOutputHook(_ hook: @escaping (Tensor) -> Void) -> Int {
    nextHookID += 1
    outputHooks.append((nextHookID, hook))
    return nextHookID
  }

  /// Removes an observer registered with ``addOutputHook(_:)``.
  public func removeOutputHook(_ token: Int) {
    outputHooks.removeAll { $0.id == token }
  }

  /// Sets training mode on this module and all descendants.
  public func train(_ on: Bool = true) {
    for (_, m) in namedModules() { m.training = on; m.didSetTraining(on) }
  }

  /// Sets evaluation mode on this module and all descendants.
  public func eval() { train(false) }

  /// Sets only this module's training flag (used when restoring a snapshot).
  package func setTrainingFlag(_ on: Bool) { training = on }

  /// Called after ``train(_:)`` changes the mode; override to react.
  open func didSetTraining(_ on: Bool) {}

  // MARK: Structure

  /// This module's own parameters (not its children's), in declaration order, found by
  /// reflection. Override together with ``children()`` only in containers whose contents
  /// reflection cannot see.
  open func ownParameters() -> [(String, Tensor)] { reflectedParameters() }

  /// This module's own buffers: state tensors that are saved and loaded with the model but
  /// never trained (BatchNorm's running statistics), in PyTorch's buffer naming. Empty by
  /// default; a module that has buffers also overrides ``ownParameters()`` to leave them out.
  open func ownBuffers() -> [(String, Tensor)] { [] }

  /// The direct children with their names (`[Module]` properties expand to `name.0`, ...).
  open func children() -> [(String, Module)] { reflectedChildren() }

  /// Replaces the direct child called `name`.
  ///
  /// - Throws: ``ModuleError/notReplaceable(_:)`` for children not declared with ``Child``,
  ///   ``ModuleError/typeMismatch(_:)`` when `module` does not fit the declared type.
  open func replaceChild(named name: String, with module: Module) throws {
    try reflectedReplaceChild(named: name, with: module)
  }

  /// A new module of the same type and configuration (sizes, options), with its own
  /// parameters whose values do not matter: ``copy(environment:)`` builds the structure with
  /// this and then copies every value. Containers build their children with the children's
  /// own `emptyCopy()`.
  ///
  /// Every layer and model in QATKit implements it; override it in your own modules (a
  /// subclass that inherits its parent's `emptyCopy()` is reported, not silently copied as the
  /// parent type).
  ///
  /// - Throws: ``ModuleError/notCopyable(_:)`` by default.
  open func emptyCopy() throws -> Module {
    throw ModuleError.notCopyable("\(type(of: self)) does not implement emptyCopy(); override it to build an instance with the same configuration")
  }

  // MARK: Quantizer slots

  /// The names of quantizer slots this layer applies in its forward pass; empty for layers
  /// that are not quantizable. Override in quantizable layers.
  open class var quantizerSlotNames: [String] { [] }

  /// The quantizer in `slot`, if one is set.
  public func quantizer(slot: String) -> (any Quantizer)? {
    quantizerSlots.first { $0.name == slot }?.quantizer
  }

  /// Puts `quantizer` into `slot` (or clears it with `nil`).
  public func setQuantizer(_ quantizer: (any Quantizer)?, slot: String) {
    quantizerSlots.removeAll { $0.name == slot }
    if let quantizer { quantizerSlots.append((slot, quantizer)) }
  }

  /// Applies the quantizer in `slot` to `x`, or returns `x` when the slot is empty or disabled
  /// (a disabled ``TensorQuantizer`` still applies its `pre_quant_scale`, as in ModelOpt).
  ///
  /// Inside ``checkedForward(_:)`` the quantizer first checks the shape of `x`
  /// (``Quantizer/validate(inputShape:)``); a shape it cannot take is recorded and `x` is
  /// returned unchanged.
  public func quantize(_ x: Tensor, slot: String) -> Tensor {
    guard let q = quantizer(slot: slot) else { return x }
    if let check = ForwardCheck.current, check.checks(q), !check.admit(x.shape, to: q, module: self, slot: slot) {
      return x
    }
    guard q.isEnabled else { return (q as? TensorQuantizer)?.scaledInput(x) ?? x }
    return q(x)
  }
}
