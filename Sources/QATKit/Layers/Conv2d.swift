/// A 2-D convolution over `[N, C, H, W]` with PyTorch's weight layout `[out, in, k, k]` and
/// default initialization.
///
/// Quantizer slots: `input_quantizer`, `weight_quantizer`, `output_quantizer`.
open class Conv2d: Module {
  /// `[out, in, k, k]` weight.
  public let weight: Tensor
  /// `[out]` bias, if any.
  public let bias: Tensor?
  /// Stride on both axes.
  public let stride: Int
  /// Zero padding on both axes.
  public let padding: Int

  /// Creates a convolution with seeded PyTorch-style initialization.
  public init(
    _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
    bias: Bool = true, seed: UInt64 = 0
  ) {
    var rng = RandomGenerator(seed: seed)
    let bound = 1 / Float(inChannels * kernel * kernel).squareRoot()
    weight = .uniform([outChannels, inChannels, kernel, kernel], low: -bound, high: bound, using: &rng, requiresGrad: true)
    self.bias = bias ? .uniform([outChannels], low: -bound, high: bound, using: &rng, requiresGrad: true) : nil
    self.stride = stride
    self.padding = padding
  }

  /// Input, weight and output quantizer slots.
  open override class var quantizerSlotNames: [String] { ["input_quantizer", "weight_quantizer", "output_quantizer"] }

  /// A new convolution of the same shape, stride, padding and bias. Subclasses override it.
  open override func emptyCopy() throws -> Module {
    Conv2d(weight.shape[1], weight.shape[0], kernel: weight.shape[2], stride: stride, padding: padding, bias: bias != nil)
  }

  /// `[N, in, H, W]` → `[N, out, H', W']`.
  open override func forward(_ x: Tensor) -> Tensor {
    let (c, k) = (weight.shape[1], weight.shape[2])
    if x.rank != 4 || x.shape[1] != c || x.shape[2] + 2 * padding < k || x.shape[3] + 2 * padding < k,
      rejectInput(x.shape, "expects [N, \(c), H, W] with H and W at least \(k - 2 * padding)")
    {
      return Tensor.zeros([x.shape.first ?? 1, weight.shape[0], 1, 1])
    }
    let xq = quantize(x, slot: "input_quantizer")
    let wq = quantize(weight, slot: "weight_quantizer")
    return quantize(xq.conv2d(wq, bias: bias, stride: stride, padding: padding), slot: "output_quantizer")
  }
}
