extension Module {
  /// A deep copy: the same structure, parameter and buffer values, quantizers (rebuilt from
  /// their attributes with their state and enabled flags), training flags and mode history,
  /// sharing no tensor with the original. Output hooks (distillation captures) are not
  /// copied.
  ///
  /// ```swift
  /// let student = try teacher.copy()          // then quantize the student, keep the teacher
  /// ```
  ///
  /// Quantizers are rebuilt by algorithm name through `environment` (the built-in
  /// `"static"` by default; pass `registry.quantizationEnvironment` for plugin algorithms
  /// such as `"lsq"`). Every module in the tree must implement ``emptyCopy()`` (all of
  /// QATKit's do).
  ///
  /// - Throws: ``ModuleError/notCopyable(_:)`` for a module without ``emptyCopy()`` (e.g. a
  ///   distillation wrapper: copy its student) or a quantizer whose algorithm the environment
  ///   does not know; nothing is changed either way.
  public func copy(environment: QuantizationEnvironment = .builtin) throws -> Self {
    let fresh = try structuralCopy()
    guard let typed = fresh as? Self else {
      throw ModuleError.notCopyable("\(type(of: self)).emptyCopy() returned a \(type(of: fresh))")
    }
    let pairs = zip(namedModules(), fresh.namedModules())
    for ((path, original), (freshPath, copy)) in pairs {
      guard path == freshPath, type(of: original) == type(of: copy) else {
        throw ModuleError.notCopyable("the copy's module at '\(freshPath)' (\(type(of: copy))) does not match '\(path)' (\(type(of: original)))")
      }
      try copyTensors(original.ownParameters(), into: copy.ownParameters(), at: path)
      try copyTensors(original.ownBuffers(), into: copy.ownBuffers(), at: path)
      for slot in original.quantizerSlots {
        copy.setQuantizer(try Self.copyQuantizer(slot.quantizer, path: path.isEmpty ? slot.name : "\(path).\(slot.name)", environment: environment), slot: slot.name)
      }
      copy.setTrainingFlag(original.training)
    }
    fresh.modeHistory = modeHistory
    return typed
  }

  /// The module tree rebuilt with ``emptyCopy()``, with children that were replaced after
  /// construction rebuilt from the replacement.
  private func structuralCopy() throws -> Module {
    let fresh = try emptyCopy()
    guard type(of: fresh) == type(of: self) else {
      throw ModuleError.notCopyable(
        "\(type(of: self)) inherits emptyCopy() from \(type(of: fresh)); override it in \(type(of: self))")
    }
    try matchChildren(of: fresh)
    return fresh
  }

  private func matchChildren(of fresh: Module) throws {
    let theirs = Dictionary(fresh.children(), uniquingKeysWith: { a, _ in a })
    for (name, child) in children() {
      guard let f = theirs[name] else {
        throw ModuleError.notCopyable("\(type(of: self)).emptyCopy() has no child '\(name)'")
      }
      if child.structureSignature() == f.structureSignature() { continue }
      if type(of: f) == type(of: child), f.ownStructure() == child.ownStructure() {
        try child.matchChildren(of: f)
      } else {
        try fresh.replaceChild(named: name, with: child.structuralCopy())
      }
    }
  }

  /// This module's type and own tensor names and shapes.
  private func ownStructure() -> [String] {
    ["\(type(of: self))"] + (ownParameters() + ownBuffers()).map { "\($0.0)\($0.1.shape)" }
  }

  /// The types, names and shapes of the whole subtree.
  private func structureSignature() -> [String] {
    namedModules().flatMap { path, m in m.ownStructure().map { "\(path):\($0)" } }
  }

  private func copyTensors(_ from: [(String, Tensor)], into to: [(String, Tensor)], at path: String) throws {
    let targets = Dictionary(to, uniquingKeysWith: { a, _ in a })
    for (name, t) in from {
      guard let target = targets[name], target.shape == t.shape else {
        throw ModuleError.notCopyable("'\(path.isEmpty ? name : "\(path).\(name)")' has shape \(t.shape) but the copy has \(targets[name]?.shape.description ?? "no such tensor")")
      }
      target.storage = t.storage  // same shape, checked above
      target.requiresGrad = t.requiresGrad
    }
  }

  private static func copyQuantizer(_ q: any Quantizer, path: String, environment: QuantizationEnvironment) throws -> any Quantizer {
    let attributes = q.attributes
    guard let factory = environment.quantizers[attributes.algorithm] else {
      throw ModuleError.notCopyable(
        "quantizer '\(path)' uses algorithm '\(attributes.algorithm)', which the environment does not know "
          + "(pass registry.quantizationEnvironment for plugin algorithms)")
    }
    let copy = try factory(attributes)
    let state = q.stateTensors()
    try copy.allocateState(shapes: Dictionary(state.map { ($0.0, $0.1.shape) }, uniquingKeysWith: { a, _ in a }))
    let targets = Dictionary(copy.stateTensors(), uniquingKeysWith: { a, _ in a })
    for (name, t) in state {
      guard let target = targets[name], target.shape == t.shape else {
        throw ModuleError.notCopyable("quantizer '\(path)' state '\(name)' cannot be copied")
      }
      target.storage = t.storage  // same shape, checked above
    }
    let learned = Set(q.learnableParameters().filter(\.1.requiresGrad).map(\.0))
    for (name, t) in copy.learnableParameters() { t.requiresGrad = learned.contains(name) }
    copy.isEnabled = q.isEnabled
    return copy
  }
}
