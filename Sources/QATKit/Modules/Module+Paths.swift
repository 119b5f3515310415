extension Module {
  /// This module (path `""`) and every descendant, depth first, with dotted paths.
  public func namedModules() -> [(String, Module)] {
    var out: [(String, Module)] = [("", self)]
    for (name, child) in children() {
      for (p, m) in child.namedModules() { out.append((p.isEmpty ? name : "\(name).\(p)", m)) }
    }
    return out
  }

  /// Every quantizer in a filled slot, with paths such as `fc1.weight_quantizer`.
  public func namedQuantizers() -> [(String, any Quantizer)] {
    namedModules().flatMap { path, m in
      m.quantizerSlots.map { (path.isEmpty ? $0.name : "\(path).\($0.name)", $0.quantizer) }
    }
  }

  /// Trainable tensors with dotted paths: layer parameters, then learnable quantizer
  /// parameters (`fc1.weight_quantizer._scale`, ...), including frozen ones.
  public func namedParameters() -> [(String, Tensor)] {
    namedModules().flatMap { path, m -> [(String, Tensor)] in
      let prefix = path.isEmpty ? "" : path + "."
      let own = m.ownParameters().map { (prefix + $0.0, $0.1) }
      let quant = m.quantizerSlots.flatMap { slot in
        slot.quantizer.learnableParameters().map { (prefix + slot.name + "." + $0.0, $0.1) }
      }
      return own + quant
    }
  }

  /// Buffers (saved, never trained: BatchNorm's running statistics) with dotted paths.
  public func namedBuffers() -> [(String, Tensor)] {
    namedModules().flatMap { path, m in
      m.ownBuffers().map { (path.isEmpty ? $0.0 : "\(path).\($0.0)", $0.1) }
    }
  }

  /// All parameters (see ``namedParameters()``).
  public func parameters() -> [Tensor] { namedParameters().map(\.1) }

  /// Parameters that currently require gradients (not frozen).
  public func trainableParameters() -> [Tensor] { parameters().filter(\.requiresGrad) }

  /// Stops gradients to every parameter of this module and its descendants.
  public func freeze() { for p in parameters() { p.requiresGrad = false; p.grad = nil } }

  /// Re-enables gradients for every parameter of this module and its descendants.
  public func unfreeze() { for p in parameters() { p.requiresGrad = true } }

  /// Clears gradients of all parameters.
  public func zeroGrad() { for p in parameters() { p.grad = nil } }

  /// The module at a dotted path (`""` is `self`).
  ///
  /// - Throws: ``ModuleError/noSuchPath(_:available:)`` listing the paths that exist.
  public func module(at path: String) throws -> Module {
    if path.isEmpty { return self }
    if let m = namedModules().first(where: { $0.0 == path })?.1 { return m }
    throw ModuleError.noSuchPath(path, available: namedModules().map(\.0).filter { !$0.isEmpty })
  }

  /// Replaces the module at a dotted path, leaving everything else untouched.
  ///
  /// - Throws: ``ModuleError`` when the path does not exist, the child is not replaceable,
  ///   or `module` does not fit the declared type.
  public func replaceModule(at path: String, with module: Module) throws {
    var parts = path.split(separator: ".").map(String.init)
    guard let last = parts.popLast() else {
      throw ModuleError.notReplaceable("the root module")
    }
    let parent = try self.module(at: parts.joined(separator: "."))
    // `[Module]` properties are addressed as `name.index`; they are not replaceable.
    if !parent.children().contains(where: { $0.0 == last }) {
      throw ModuleError.noSuchPath(path, available: namedModules().map(\.0).filter { !$0.isEmpty })
    }
    try parent.replaceChild(named: last, with: module)
  }
}
