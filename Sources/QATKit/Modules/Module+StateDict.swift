extension Module {
  /// Every tensor of the model by dotted path: parameters, buffers and quantizer state
  /// (`fc1.weight`, `bn.running_mean`, `fc1.weight_quantizer._amax`), in PyTorch / ModelOpt
  /// naming.
  public func stateDict() -> [(String, Tensor)] {
    namedModules().flatMap { path, m -> [(String, Tensor)] in
      let prefix = path.isEmpty ? "" : path + "."
      let own = (m.ownParameters() + m.ownBuffers()).map { (prefix + $0.0, $0.1) }
      let quant = m.quantizerSlots.flatMap { slot in
        slot.quantizer.stateTensors().map { (prefix + slot.name + "." + $0.0, $0.1) }
      }
      return own + quant
    }
  }

  /// Copies values from `state` into the model's tensors, in place.
  ///
  /// Checks everything before changing anything: with `strict`, keys the model lacks and
  /// keys the state lacks are errors; shapes must always match. All problems are reported
  /// together in one ``ModuleError/stateMismatch(missing:unexpected:misShaped:)``.
  public func loadStateDict(_ state: [String: Tensor], strict: Bool = true) throws {
    let own = stateDict()
    let ownKeys = Set(own.map(\.0))
    var missing: [String] = []
    var misShaped: [String] = []
    for (k, t) in own {
      guard let v = state[k] else { missing.append(k); continue }
      if v.shape != t.shape { misShaped.append("\(k): model \(t.shape), state \(v.shape)") }
    }
    let unexpected = state.keys.filter { !ownKeys.contains($0) }.sorted()
    if !misShaped.isEmpty || (strict && (!missing.isEmpty || !unexpected.isEmpty)) {
      throw ModuleError.stateMismatch(
        missing: strict ? missing : [], unexpected: strict ? unexpected : [], misShaped: misShaped)
    }
    for (k, t) in own { if let v = state[k] { t.storage = v.storage } }
  }
}
