/// A fake quantizer that sits in a layer's quantizer slot.
///
/// In the forward pass it maps a tensor onto a low-precision grid and back (fake
/// quantization), recording a backward (straight-through estimator, and gradients to any
/// learned range). It owns its state as named tensors that save and restore with the model
/// (`_amax`, learned scales), can be disabled, collects statistics while calibrating, and
/// produces the real quantized form for export.
///
/// Plugins implement new algorithms (LSQ, PACT, ...) by conforming to this protocol; see
/// CONTRIBUTING.md.
public protocol Quantizer: AnyObject {
  /// When `false` the quantizer is the identity.
  var isEnabled: Bool { get set }
  /// Fake-quantizes `x` (or observes it while calibrating), recording its backward.
  func callAsFunction(_ x: Tensor) -> Tensor
  /// Named state tensors saved with the model, e.g. `("_amax", amax)`.
  func stateTensors() -> [(String, Tensor)]
  /// The subset of state the optimizer trains (learned scales); empty by default.
  func learnableParameters() -> [(String, Tensor)]
}

extension Quantizer {
  /// No learnable parameters.
  public func learnableParameters() -> [(String, Tensor)] { [] }
}
