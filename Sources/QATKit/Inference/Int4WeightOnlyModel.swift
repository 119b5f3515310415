/// A model whose `Linear` layers run as ``Int4WeightOnlyLinear`` (INT4 weights dequantized inside
/// the GEMM, float activations), with their activations in between: an `MLP`, a `Sequential` of
/// `Linear` layers each optionally followed by `ReLU` or `GELU`, or one `Linear`, quantized with
/// INT4 per-block weights only (e.g. the `int4_weight_only` preset, blocks of a multiple of 32).
public final class Int4WeightOnlyModel: Sendable {
  /// The layers in order.
  public let layers: [Int4WeightOnlyLinear]
  /// The activation after each layer.
  public let activations: [Int8Activation]
  /// The kernels this model runs on.
  public let instructionSet: Int8InstructionSet

  /// Creates the model.
  ///
  /// - Throws: ``Int8InferenceError`` naming the unsupported layer or quantizer.
  public init(_ model: Module, instructionSet: Int8InstructionSet = .best) throws(Int8InferenceError) {
    guard instructionSet.isSupported else { throw .unsupportedInstructionSet(instructionSet) }
    let (stages, acts) = try linearStages(of: model)
    var layers: [Int4WeightOnlyLinear] = []
    for (i, (path, linear)) in stages.enumerated() {
      let layer = try Int4WeightOnlyLinear(linear, path: path)
      if let previous = layers.last, previous.outFeatures != layer.inFeatures {
        throw .unsupportedModel("layer \(i) takes \(layer.inFeatures) features but the previous one gives \(previous.outFeatures)")
      }
      layers.append(layer)
    }
    self.layers = layers
    activations = acts
    self.instructionSet = instructionSet
  }

  /// Runs the model on `x [..., inFeatures]` (no gradient).
  public func callAsFunction(_ x: Tensor) -> Tensor {
    var h = x
    for (layer, act) in zip(layers, activations) { h = layer(h, activation: act, instructionSet: instructionSet) }
    return h
  }
}
