/// A fake quantizer that sits in a layer's quantizer slot.
///
/// In the forward pass it maps a tensor onto a low-precision grid and back (fake
/// quantization), recording a backward (straight-through estimator, and gradients to any
/// learned range). It owns its state as named tensors that save and restore with the model
/// (`_amax`, learned scales), can be disabled, collects statistics while calibrating, and
/// produces the real quantized form for export.
///
/// Life cycle under the `quantize` mode: a ``QuantizerFactory`` builds it from
/// ``QuantizerAttributes``; if ``needsCalibration``, the mode calls
/// ``beginCalibration(_:)``, runs the forward loop (during which `callAsFunction` only
/// observes and returns its input) and ``endCalibration()``. On restore, the mode rebuilds it
/// from the same attributes and calls ``allocateState(shapes:)`` with the state shapes
/// recorded at convert time; values arrive with the state dict.
///
/// Weight quantizers (slot `<param>_quantizer` of a layer that has parameter `<param>`) are
/// calibrated by calling them once on the weight between ``beginCalibration(_:)`` and
/// ``endCalibration()``; activation quantizers by the forward loop. The `quantize` mode
/// builds the configured calibrator (`attributes.calibrator`, `max` by default) for every
/// enabled quantizer whose ``needsCalibration`` is `true`, whether or not the algorithm uses
/// it for more than its initial range.
///
/// Plugins implement new algorithms (LSQ, PACT, ...) by conforming to this protocol. Four
/// members are required: ``isEnabled``, ``attributes`` (return the attributes the factory
/// received: restore rebuilds the quantizer from them), ``callAsFunction(_:)`` and
/// ``stateTensors()``; the others have defaults.
public protocol Quantizer: AnyObject {
  /// When `false` the quantizer is the identity.
  var isEnabled: Bool { get set }
  /// The attributes this quantizer was built from, unchanged: the `quantize` mode records
  /// them in the checkpoint and rebuilds the quantizer from them on restore.
  var attributes: QuantizerAttributes { get }
  /// Fake-quantizes `x` (or observes it while calibrating), recording its backward.
  func callAsFunction(_ x: Tensor) -> Tensor
  /// Named state tensors saved with the model, e.g. `("_amax", amax)`.
  func stateTensors() -> [(String, Tensor)]
  /// The subset of state the optimizer trains (learned scales); empty by default.
  func learnableParameters() -> [(String, Tensor)]
  /// Whether the quantizer wants a calibrated range (default: `attributes.needsCalibration`).
  var needsCalibration: Bool { get }
  /// Starts observing inputs with `calibrator` (the forward pass returns inputs unchanged).
  func beginCalibration(_ calibrator: any Calibrator)
  /// Stops observing and sets the range from the calibrator.
  ///
  /// - Throws: When nothing was observed or the calibrator fails.
  func endCalibration() throws
  /// Creates state tensors of the given shapes (zero-filled) before a state dict is loaded,
  /// so a restored quantizer has the keys and shapes of the saved one.
  ///
  /// - Throws: When a name is not part of this quantizer's state.
  func allocateState(shapes: [String: [Int]]) throws
  /// The real quantized form of `x` (codes and scales), consistent with the forward pass.
  ///
  /// - Throws: ``QuantizerError`` when the quantizer cannot export.
  func export(_ x: Tensor) throws -> QuantizedTensor
  /// Checks, without computing anything, that ``callAsFunction(_:)`` can take an input of
  /// `shape` in the quantizer's current state (granularity fits the rank, block size divides
  /// the last dimension, learned or calibrated ranges have one entry per group; while
  /// calibrating, the same number of groups as the inputs seen so far).
  ///
  /// `callAsFunction` is non-throwing (forward code reads `model(x)`) and may trap on a shape
  /// that fails this check; ``Module/checkedForward(_:)``, the calibration pass of the
  /// `quantize` mode and `restore` call it first. The default accepts every shape: implement it
  /// whenever your forward pass has shape preconditions.
  ///
  /// - Throws: ``QuantizerError/incompatibleInput(path:shape:_:)`` (with an empty path; callers
  ///   fill it in) saying what does not fit.
  func validate(inputShape shape: [Int]) throws
}

extension Quantizer {
  /// No learnable parameters.
  public func learnableParameters() -> [(String, Tensor)] { [] }
  /// `attributes.needsCalibration`.
  public var needsCalibration: Bool { attributes.needsCalibration }
  /// Nothing to calibrate.
  public func beginCalibration(_ calibrator: any Calibrator) {}
  /// Nothing to calibrate.
  public func endCalibration() throws {}
  /// Checks that `shapes` names exactly the existing state tensors with their shapes.
  public func allocateState(shapes: [String: [Int]]) throws {
    let own = Dictionary(stateTensors().map { ($0.0, $0.1.shape) }, uniquingKeysWith: { a, _ in a })
    guard own == shapes else {
      throw QuantizerError.stateMismatch("\(type(of: self)) has state \(own), the checkpoint expects \(shapes)")
    }
  }
  /// Accepts every shape.
  public func validate(inputShape shape: [Int]) throws {}
  /// Export is not supported.
  public func export(_ x: Tensor) throws -> QuantizedTensor {
    throw QuantizerError.exportUnsupported("\(type(of: self)) (\(attributes.algorithm)) does not support export")
  }
}
