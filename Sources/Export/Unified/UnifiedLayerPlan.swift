import QATKit

/// How one quantized layer of a QATKit model maps onto the unified checkpoint.
struct UnifiedLayerPlan {
  /// Module path (`encoder.layer.0.output.dense`); the tensors are `<path>.weight`, ...
  let path: String
  let module: Module
  let algorithm: UnifiedAlgorithm
  /// Group (block) size along the input dimension, for the grouped algorithms.
  let groupSize: Int?
  let weight: Tensor
  let weightQuantizer: any Quantizer
  /// The calibrated per-tensor range of the activations, when the algorithm quantizes them
  /// (`nil` for dynamic MX activations and weight-only algorithms).
  let inputAmax: Float?
  /// The input quantizer's `pre_quant_scale` (SmoothQuant), if any.
  let preQuantScale: [Float]?

  /// `<path>.<name>` (or `name` for the root module).
  func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
}

/// Every quantizable layer of a model, classified for the unified checkpoint: quantized
/// layers with their algorithm, and excluded ones (a weight quantizer slot that is empty or
/// disabled).
struct UnifiedModelPlan {
  var quantized: [UnifiedLayerPlan] = []
  var excluded: [String] = []

  /// Classifies `model`'s layers.
  ///
  /// - Throws: ``ExportError/unsupported(layer:_:)`` naming the first layer whose quantization the
  ///   format cannot hold, ``ExportError/noQuantizers(_:)`` when nothing is quantized.
  static func make(_ model: Module) throws -> UnifiedModelPlan {
    var plan = UnifiedModelPlan()
    for (path, m) in model.namedModules() {
      let name = path.isEmpty ? "(root)" : path
      let hasWeightSlot = type(of: m).quantizerSlotNames.contains("weight_quantizer")
      let weight = m.ownParameters().first { $0.0 == "weight" }?.1
      for (slot, q) in m.quantizerSlots where q.isEnabled {
        guard hasWeightSlot, weight != nil, slot == "weight_quantizer" || slot == "input_quantizer" else {
          throw ExportError.unsupported(
            layer: name,
            "its enabled '\(slot)' has no place in the unified checkpoint (it stores weight codes and input scales of "
              + "layers with weights); disable it, or export ONNX, which keeps every quantizer")
        }
      }
      guard hasWeightSlot, let weight else { continue }
      let wq = m.quantizer(slot: "weight_quantizer").flatMap { $0.isEnabled ? $0 : nil }
      let iq = m.quantizer(slot: "input_quantizer").flatMap { $0.isEnabled ? $0 : nil }
      guard let wq else {
        if iq != nil {
          throw ExportError.unsupported(
            layer: name,
            "its input is quantized but its weight is not; the unified checkpoint has no activation-only algorithm. "
              + "Quantize the weight too or disable the input quantizer")
        }
        plan.excluded.append(path)
        continue
      }
      plan.quantized.append(try classify(path: path, name: name, module: m, weight: weight, wq, iq))
    }
    guard !plan.quantized.isEmpty else {
      throw ExportError.noQuantizers("the model has no enabled weight quantizer")
    }
    return plan
  }

  private static func classify(
    path: String, name: String, module m: Module, weight: Tensor, _ wq: any Quantizer, _ iq: (any Quantizer)?
  ) throws -> UnifiedLayerPlan {
    let a = wq.attributes
    let isLinear = m is Linear && weight.rank == 2
    func fail(_ message: String) -> ExportError { .unsupported(layer: name, message) }
    let supported =
      "the unified checkpoint stores INT8 per-channel (W8A16 / W8A8), INT4 blocks (W4A16_AWQ), FP8 E4M3 per-tensor, NVFP4 and MXFP4 weights"
    // A disabled input quantizer may still carry a pre_quant_scale (AWQ on weight-only layers).
    let pqs = (m.quantizer(slot: "input_quantizer") as? TensorQuantizer)?.preQuantScale?.scalars
    let roles: [(String, (any Quantizer)?)] = [("weight", wq), ("input", iq)]
    for (role, q) in roles where q?.stateTensors().contains(where: { $0.0 == "_zero_point" }) == true {
      throw fail(
        "its \(role) quantizer is asymmetric (zero points), which the unified checkpoint's algorithms do not hold "
          + "(ModelOpt's format has no zero-point tensor); export ONNX, whose Q/DQ carries zero points, or use symmetric integer or FP formats")
    }

    /// The calibrated range of a static per-tensor input quantizer of `format`.
    func inputRange(_ format: QuantFormat, for algorithm: String) throws -> Float {
      guard let iq else { preconditionFailure("inputRange without input quantizer") }
      let ia = iq.attributes
      guard ia.format == format else {
        throw fail("\(a.format) weights with \(ia.format) activations are not a unified algorithm (\(algorithm) uses \(format) activations)")
      }
      guard !ia.dynamic, ia.granularity == .perTensor || format == .nvfp4 else {
        throw fail("\(algorithm) needs static per-tensor activation ranges; its input quantizer is \(ia.dynamic ? "dynamic" : "\(ia.granularity)")")
      }
      guard !ia.narrowRange else {
        throw fail("\(algorithm) activations use the full integer range; its input quantizer has narrowRange")
      }
      guard let amax = iq.stateTensors().first(where: { $0.0 == "_amax" })?.1, amax.count == 1 else {
        throw fail("its input quantizer has no calibrated range (calibrate it with a forward loop)")
      }
      return amax.scalars[0]
    }
    func noPreScale(_ algorithm: UnifiedAlgorithm) throws {
      if pqs != nil { throw fail("pre_quant_scale is only written with W8A8 (SmoothQuant) and W4A16_AWQ (AWQ), not with \(algorithm.rawValue)") }
    }
    func needLinear(_ algorithm: UnifiedAlgorithm) throws {
      guard isLinear else {
        throw fail(
          "\(algorithm.rawValue) packs codes along the dimensions of a 2-D Linear weight; this \(type(of: m)) "
            + "(weight \(weight.shape)) can hold INT8 per-channel or FP8 per-tensor weights in the unified checkpoint")
      }
    }

    let algorithm: UnifiedAlgorithm
    var groupSize: Int? = nil
    var inputAmax: Float? = nil
    switch a.format {
    case .int(8, true):
      switch a.granularity {
      case .perTensor: break
      case .perChannel(let axis) where axis == 0 || axis == -weight.rank: break
      default: throw fail("INT8 weights must be per-channel along the output axis (axis 0) or per-tensor, not \(a.granularity)")
      }
      if iq != nil {
        algorithm = .w8a8
        inputAmax = try inputRange(.int8, for: "W8A8_SQ_PER_CHANNEL")
      } else {
        algorithm = .w8a16
        try noPreScale(algorithm)
      }
    case .int(4, true):
      guard case .perBlock(let b) = a.granularity else {
        throw fail("INT4 weights are stored in groups along the input dimension (W4A16_AWQ); give the weight quantizer a blockSize (e.g. 128), not \(a.granularity)")
      }
      try needLinear(.w4a16AWQ)
      guard weight.shape[0] % 2 == 0 else {
        throw fail("W4A16_AWQ packs two output rows per byte; the weight has an odd number of rows (\(weight.shape[0]))")
      }
      if let iq {
        if iq.attributes.format == .e4m3 {
          throw fail(
            "INT4 weights with FP8 activations are ModelOpt's W4A8_AWQ, whose weights go through a second FP8 stage "
              + "(weight_scale_2) that QATKit's quantizers do not train with; export W4A16 (disable the input quantizer) or use FP8")
        }
        throw fail("INT4 weights with \(iq.attributes.format) activations are not a unified algorithm (W4A16_AWQ keeps activations in full precision)")
      }
      algorithm = .w4a16AWQ
      groupSize = b
    case .e4m3:
      guard a.granularity == .perTensor else {
        throw fail("FP8 weights are stored per-tensor (quant_algo FP8), not \(a.granularity)")
      }
      algorithm = .fp8
      if iq != nil { inputAmax = try inputRange(.e4m3, for: "FP8") }
      try noPreScale(algorithm)
    case .nvfp4:
      try needLinear(.nvfp4)
      guard a.effectiveBlockSize == 16 else { throw fail("NVFP4 uses blocks of 16, not \(a.effectiveBlockSize ?? 0)") }
      groupSize = 16
      if iq != nil {
        algorithm = .nvfp4
        inputAmax = try inputRange(.nvfp4, for: "NVFP4")
      } else {
        algorithm = .w4a16NVFP4
      }
      try noPreScale(algorithm)
    case .mxfp4:
      try needLinear(.mxfp4)
      if let iq, iq.attributes.format != .mxfp4 {
        throw fail("MXFP4 weights with \(iq.attributes.format) activations are not a unified algorithm")
      }
      algorithm = .mxfp4
      try noPreScale(algorithm)
    default:
      throw fail("\(a.format) weights (\(a.granularity)) cannot be held: \(supported)")
    }
    return UnifiedLayerPlan(
      path: path, module: m, algorithm: algorithm, groupSize: groupSize, weight: weight, weightQuantizer: wq,
      inputAmax: inputAmax, preQuantScale: algorithm == .w8a8 || algorithm == .w4a16AWQ ? pqs : nil)
  }
}
