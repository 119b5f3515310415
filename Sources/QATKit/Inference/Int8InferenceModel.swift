/// A quantized model running on integers: a chain of ``Int8Linear`` layers with their activations,
/// where each layer's epilogue writes the next layer's INT8 input codes directly (the activations
/// between layers never exist as floats in memory). The input is quantized once; the last layer
/// writes floats.
///
/// Built from an INT8-quantized QATKit model (see ``Int8Linear`` for what each layer needs):
/// an ``MLP``, a ``Sequential`` of `Linear` layers each optionally followed by ``ReLU`` or ``GELU``,
/// or a single `Linear`. The weight codes and scales come from ``exportQuantized(_:)`` (which
/// verifies they reproduce the fake-quantized weights bit for bit).
///
/// ```swift
/// let model = MLP([64, 256, 256, 10])            // trained, then quantize mode with the int8 preset
/// let int8 = try Int8InferenceModel(model)
/// let logits = int8(x)                            // ≈ model(x), see README "Integer inference"
/// ```
public final class Int8InferenceModel: Sendable {
  /// The layers in order.
  public let layers: [Int8Linear]
  /// The activation after each layer.
  public let activations: [Int8Activation]
  /// The kernels this model runs on.
  public let instructionSet: Int8InstructionSet

  /// Creates the integer model.
  ///
  /// - Parameters:
  ///   - model: A quantized `MLP`, `Sequential` (Linear, ReLU, GELU) or `Linear`.
  ///   - instructionSet: The kernels to use (default: the fastest this CPU has).
  /// - Throws: ``Int8InferenceError`` naming the unsupported layer or quantizer.
  public init(_ model: Module, instructionSet: Int8InstructionSet = .best) throws(Int8InferenceError) {
    guard instructionSet.isSupported else { throw .unsupportedInstructionSet(instructionSet) }
    let (stages, acts) = try linearStages(of: model)
    let exported: [String: QuantizedTensor]
    do {
      exported = try exportQuantized(model)
    } catch {
      throw .unsupportedQuantizer(path: "<model>", "export failed: \(error)")
    }
    var layers: [Int8Linear] = []
    for (i, (path, linear)) in stages.enumerated() {
      let key = path.isEmpty ? "weight" : "\(path).weight"
      guard let q = exported[key] else {
        throw .unsupportedQuantizer(path: path.isEmpty ? "<root>" : path, "the weight is not quantized")
      }
      let layer = try Int8Linear(linear, path: path, weight: q)
      if let previous = layers.last, previous.outFeatures != layer.inFeatures {
        throw .unsupportedModel("layer \(i) takes \(layer.inFeatures) features but the previous one gives \(previous.outFeatures)")
      }
      layers.append(layer)
    }
    self.layers = layers
    activations = acts
    self.instructionSet = instructionSet
  }

  /// Input features of the first layer.
  public var inFeatures: Int { layers[0].inFeatures }
  /// Output features of the last layer.
  public var outFeatures: Int { layers[layers.count - 1].outFeatures }

  /// Runs the model on `x [..., inFeatures]` → `[..., outFeatures]` (no gradient).
  public func callAsFunction(_ x: Tensor) -> Tensor {
    precondition(x.rank >= 1 && x.shape.last == inFeatures, "Int8InferenceModel: input \(x.shape), expected [..., \(inFeatures)]")
    let rows = inFeatures == 0 ? 0 : x.count / inFeatures
    let outShape = Array(x.shape.dropLast()) + [outFeatures]
    guard rows > 0 else { return Tensor(shape: outShape, storage: []) }
    var codes = layers[0].quantizeInput(x.storage, rows: rows, isa: instructionSet)
    for i in 0..<(layers.count - 1) {
      let layer = layers[i], next = layers[i + 1]
      let nextCodes = [UInt8](unsafeUninitializedCapacity: rows * next.depth) { c, count in
        // Padding bytes past the features multiply zero weights; give them a defined value.
        if next.depth > next.inFeatures {
          for r in 0..<rows { (c.baseAddress! + r * next.depth + next.inFeatures).update(repeating: 128, count: next.depth - next.inFeatures) }
        }
        codes.withUnsafeBufferPointer { a in
          layer.run(
            a.baseAddress!, rows: rows, activation: activations[i], isa: instructionSet, out: nil, codes: c.baseAddress,
            ldCodes: next.depth, nextMultiplier: next.inputMultiplier, nextMin: Int32(next.inputMinCode))
        }
        count = rows * next.depth
      }
      codes = nextCodes
    }
    let last = layers.count - 1
    let out = [Float](unsafeUninitializedCapacity: rows * outFeatures) { o, count in
      codes.withUnsafeBufferPointer { a in
        layers[last].run(
          a.baseAddress!, rows: rows, activation: activations[last], isa: instructionSet, out: o.baseAddress, codes: nil,
          ldCodes: 0, nextMultiplier: 0, nextMin: -128)
      }
      count = rows * outFeatures
    }
    return Tensor(shape: outShape, storage: out)
  }
}

/// The `Linear` layers of a supported model with the activation after each: an `MLP` (ReLU
/// between layers), a `Sequential` of `Linear` layers each optionally followed by `ReLU` or
/// `GELU`, or one `Linear` (path `""`).
///
/// - Throws: ``Int8InferenceError/unsupportedModel(_:)`` for any other structure.
func linearStages(of model: Module) throws(Int8InferenceError) -> ([(String, Linear)], [Int8Activation]) {
  var stages: [(String, Linear)] = []
  var acts: [Int8Activation] = []
  func addActivation(_ act: Int8Activation, at path: String) throws(Int8InferenceError) {
    guard let last = acts.indices.last, acts[last] == .none else {
      throw .unsupportedModel("'\(path)': \(act) must directly follow a Linear layer")
    }
    acts[last] = act
  }
  switch model {
  case let mlp as MLP:
    for (i, layer) in mlp.layers.enumerated() {
      stages.append(("fc\(i + 1)", layer))
      acts.append(i < mlp.layers.count - 1 ? .relu : .none)
    }
  case let seq as Sequential:
    for (name, layer) in seq.children() {
      switch layer {
      case let linear as Linear:
        stages.append((name, linear))
        acts.append(.none)
      case is ReLU: try addActivation(.relu, at: name)
      case is GELU: try addActivation(.gelu, at: name)
      default:
        throw .unsupportedModel("layer '\(name)' is a \(type(of: layer)); supported: Linear, ReLU, GELU")
      }
    }
  case let linear as Linear:
    stages.append(("", linear))
    acts.append(.none)
  default:
    throw .unsupportedModel("\(type(of: model)); supported: MLP, Sequential of Linear/ReLU/GELU, Linear")
  }
  guard !stages.isEmpty else { throw .unsupportedModel("no Linear layer") }
  return (stages, acts)
}
