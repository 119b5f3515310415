extension CalibrationSession {
  /// The model's declared ``ScaleFold``s that can take a fold now: the producer exists and is
  /// ``ChannelScalable`` with as many channels as every consumer has input features, every
  /// consumer is a layer of this session (``linearLayers()``), and no enabled quantizer sees the
  /// scaled values (the producer's `output_quantizer`, ``ScaleFold/quantizersOnPath``).
  /// Algorithms give the consumers of one fold a shared scale so that it can fold.
  public func foldableScaleFolds() -> [ScaleFold] {
    let modules = Dictionary(model.namedModules(), uniquingKeysWith: { a, _ in a })
    let quantizers = Dictionary(model.namedQuantizers(), uniquingKeysWith: { a, _ in a })
    let targets = Set(linearLayers().map(\.path))
    return model.declaredScaleFolds().filter { fold in
      guard let producer = modules[fold.producer], let scalable = producer as? any ChannelScalable,
        !fold.consumers.isEmpty, fold.consumers.allSatisfy({ targets.contains($0) })
      else { return false }
      let widths = fold.consumers.compactMap { (modules[$0] as? Linear)?.inFeatures }
      guard widths.count == fold.consumers.count, widths.allSatisfy({ $0 == scalable.outputChannelCount }) else { return false }
      let outputSlot = fold.producer.isEmpty ? "output_quantizer" : "\(fold.producer).output_quantizer"
      return !(fold.quantizersOnPath + [outputSlot]).contains { quantizers[$0]?.isEnabled == true }
    }
  }

  /// Moves `pre_quant_scale` factors into the producers of ``foldableScaleFolds()`` whose
  /// consumers all carry the same factors (positive ones through ReLU): the producer's output
  /// channels are multiplied by the factors and the consumers' factors are cleared. Call it
  /// after the scales are set and before weights are calibrated (a `Linear` producer's weight
  /// changes).
  ///
  /// - Returns: The folds made.
  /// - Throws: ``QuantizerError`` when a producer rejects the factors.
  @discardableResult
  public func foldInputScales() throws -> [ScaleFold] {
    let modules = Dictionary(model.namedModules(), uniquingKeysWith: { a, _ in a })
    var done: [ScaleFold] = []
    for fold in foldableScaleFolds() {
      let layers = fold.consumers.compactMap { modules[$0] as? Linear }
      guard let scalable = modules[fold.producer] as? any ChannelScalable,
        let factors = layers.first.flatMap({ inputScale(of: $0) }),
        layers.allSatisfy({ inputScale(of: $0) == factors })
      else { continue }
      if fold.path == .relu, factors.contains(where: { !($0 > 0) }) { continue }
      try scalable.scaleOutputChannels(by: factors)
      for (path, layer) in zip(fold.consumers, layers) { try setInputScale(nil, of: layer, path: path) }
      done.append(fold)
    }
    return done
  }
}

extension CalibrationSession {
  /// Layers that get one shared per-input-channel scale.
  public struct ScaleGroup {
    /// The layers (they read the same input).
    public let layers: [LinearLayer]
    /// The fold their scale can take, or `nil` (the scale stays a `pre_quant_scale`).
    public let fold: ScaleFold?
  }

  /// The session's ``linearLayers()`` partitioned for scale search: with `folding`, the
  /// consumers of each of ``foldableScaleFolds()`` form one group (a layer in the first fold that
  /// lists it); every other layer is a group of its own. Model order of the first layer.
  public func scaleGroups(folding: Bool) -> [ScaleGroup] {
    let layers = linearLayers()
    let byPath = Dictionary(layers.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
    var groupOf: [String: Int] = [:]
    var groups: [ScaleGroup] = []
    if folding {
      for fold in foldableScaleFolds() where fold.consumers.allSatisfy({ groupOf[$0] == nil }) {
        let members = fold.consumers.compactMap { byPath[$0] }
        guard members.count == fold.consumers.count else { continue }
        for p in fold.consumers { groupOf[p] = groups.count }
        groups.append(ScaleGroup(layers: members, fold: fold))
      }
    }
    var ordered: [ScaleGroup] = []
    var emitted = Set<Int>()
    for l in layers {
      if let g = groupOf[l.path] {
        if emitted.insert(g).inserted { ordered.append(groups[g]) }
      } else {
        ordered.append(ScaleGroup(layers: [l], fold: nil))
      }
    }
    return ordered
  }
}
