public import QATKit

extension UnifiedCheckpointContents {
  /// A plain state dict: every stored tensor, quantized weights dequantized. With
  /// `foldingPreQuantScale`, a layer's `pre_quant_scale` is folded into its weight columns
  /// (`(x ∘ s) Wᵀ = x (W ∘ s)ᵀ`), so a model without quantizers computes what the checkpoint
  /// describes up to float rounding and activation quantization.
  public func stateDict(foldingPreQuantScale: Bool = true) -> [String: Tensor] {
    var out = tensors
    for l in layers {
      out[l.path.isEmpty ? "weight" : "\(l.path).weight"] = foldingPreQuantScale ? Self.folded(l) : l.weight
    }
    return out
  }

  /// `weight ∘ pre_quant_scale` along the input dimension, or the weight.
  private static func folded(_ l: UnifiedLayer) -> Tensor {
    guard let s = l.preQuantScale else { return l.weight }
    let w = l.weight
    let inner = w.count / Swift.max(w.shape[0], 1)
    let per = inner / s.count
    var v = w.scalars
    for i in v.indices { v[i] *= s[(i % inner) / per] }
    return Tensor(shape: w.shape, storage: v)
  }

  /// Loads the checkpoint into a freshly built `model` of the same architecture
  /// (dequantize-on-load): weights strictly by name; with `quantizeActivations`, every layer
  /// with an `input_scale` gets a static per-tensor input quantizer of its algorithm's
  /// activation format (INT8, FP8 E4M3 or NVFP4) with range `input_scale × maxBound` and the
  /// layer's `pre_quant_scale` (recorded as a `quantize` mode, so the model saves and
  /// restores as a QATKit checkpoint); `pre_quant_scale` of layers without activation
  /// quantization is folded into the weight. Nothing changes unless everything fits.
  ///
  /// - Throws: ``ExportError/modelMismatch(_:)`` listing missing, unexpected or mis-shaped
  ///   tensors, or a model that already has modes or quantizers.
  public func load(into model: Module, quantizeActivations: Bool = true) throws {
    guard model.modeHistory.isEmpty, model.namedQuantizers().isEmpty else {
      throw ExportError.modelMismatch("load needs a freshly built model without modes or quantizers")
    }
    let modules = Dictionary(model.namedModules(), uniquingKeysWith: { a, _ in a })
    var state = tensors
    var quantizers: [(Module, String, TensorQuantizer)] = []
    var paths: [String] = []
    for l in layers {
      let key = l.path.isEmpty ? "weight" : "\(l.path).weight"
      guard let m = modules[l.path] else {
        throw ExportError.modelMismatch("the model has no layer '\(l.path)' (quantized in the checkpoint)")
      }
      if quantizeActivations, let amax = l.inputAmax, let format = l.algorithm.inputFormat {
        guard type(of: m).quantizerSlotNames.contains("input_quantizer") else {
          throw ExportError.modelMismatch("layer '\(l.path)' (\(type(of: m))) has no input_quantizer slot for its input_scale")
        }
        let q = try TensorQuantizer(attributes: QuantizerAttributes(format: format))
        try q.setAmax(Tensor(scalar: amax))
        if let s = l.preQuantScale { try q.setPreQuantScale(Tensor(s)) }
        quantizers.append((m, "input_quantizer", q))
        paths.append(l.path.isEmpty ? "input_quantizer" : "\(l.path).input_quantizer")
        state[key] = l.weight
      } else {
        state[key] = Self.folded(l)
      }
    }
    let own = model.namedParameters()
    let ownKeys = Set(own.map(\.0))
    let missing = own.map(\.0).filter { state[$0] == nil }
    let unexpected = state.keys.filter { !ownKeys.contains($0) }.sorted()
    let misShaped = own.compactMap { k, t -> String? in
      guard let v = state[k], v.shape != t.shape else { return nil }
      return "\(k): model \(t.shape), checkpoint \(v.shape)"
    }
    guard missing.isEmpty, unexpected.isEmpty, misShaped.isEmpty else {
      var parts: [String] = []
      if !missing.isEmpty { parts.append("missing \(missing.prefix(8).joined(separator: ", "))") }
      if !unexpected.isEmpty { parts.append("unexpected \(unexpected.prefix(8).joined(separator: ", "))") }
      if !misShaped.isEmpty { parts.append("mis-shaped \(misShaped.prefix(8).joined(separator: "; "))") }
      throw ExportError.modelMismatch(parts.joined(separator: "; "))
    }
    for (k, t) in own { try t.assign(values: state[k]!.storage) }
    guard !quantizers.isEmpty else { return }
    for (m, slot, q) in quantizers { m.setQuantizer(q, slot: slot) }
    let rules = zip(paths, quantizers).map { QuantizeConfig.Entry($0, cfg: $1.2.attributes) }
    model.modeHistory = [
      ModeRecord(
        name: QuantizeMode.name, config: try JSONValue.encoding(QuantizeConfig(rules)),
        metadata: try QuantizeMode.metadata(for: model, paths: paths))
    ]
  }
}
