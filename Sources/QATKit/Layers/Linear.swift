/// A fully connected layer `y = x·Wᵀ + b` with PyTorch's layout (`weight` is `[out, in]`)
/// and default initialization (uniform in ±1/√in for weight and bias).
///
/// Quantizer slots: `input_quantizer`, `weight_quantizer`, `output_quantizer`.
open class Linear: Module {
  /// `[out, in]` weight.
  public let weight: Tensor
  /// `[out]` bias, if any.
  public let bias: Tensor?

  /// Creates a layer with seeded PyTorch-style initialization.
  public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, seed: UInt64 = 0) {
    var rng = RandomGenerator(seed: seed)
    let bound = 1 / Float(inFeatures).squareRoot()
    weight = .uniform([outFeatures, inFeatures], low: -bound, high: bound, using: &rng, requiresGrad: true)
    self.bias = bias ? .uniform([outFeatures], low: -bound, high: bound, using: &rng, requiresGrad: true) : nil
  }

  /// Creates a layer around existing tensors (`weight [out, in]`, `bias [out]`), e.g. to load
  /// a checkpoint without paying for a random initialization first.
  public init(weight: Tensor, bias: Tensor?) {
    precondition(weight.rank == 2 && (bias.map { $0.shape == [weight.shape[0]] } ?? true),
                 "Linear: weight \(weight.shape) must be [out, in] and bias \(bias?.shape ?? []) [out]")
    self.weight = weight
    self.bias = bias
  }

  /// Input and output feature counts.
  public var inFeatures: Int { weight.shape[1] }
  /// Output feature count.
  public var outFeatures: Int { weight.shape[0] }

  /// Input, weight and output quantizer slots.
  open override class var quantizerSlotNames: [String] { ["input_quantizer", "weight_quantizer", "output_quantizer"] }

  /// A new layer of the same size (and bias). Subclasses override it.
  open override func emptyCopy() throws -> Module { Linear(inFeatures, outFeatures, bias: bias != nil) }

  /// `x [..., in]` → `[..., out]`. With INT8 quantizers the product runs on integer codes while
  /// training (see ``ForwardPath``).
  open override func forward(_ x: Tensor) -> Tensor {
    if x.shape.last != inFeatures, rejectInput(x.shape, "expects [..., \(inFeatures)] (\(inFeatures) features)") {
      return Tensor.zeros(x.shape.dropLast() + [outFeatures])
    }
    if let y = integerForward(x) { return quantize(y, slot: "output_quantizer") }
    let xq = quantize(x, slot: "input_quantizer")
    let wq = quantize(weight, slot: "weight_quantizer")
    return quantize(Tensor.linear(xq, weight: wq, bias: bias), slot: "output_quantizer")
  }
}
