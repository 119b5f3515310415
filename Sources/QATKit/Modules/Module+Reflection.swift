extension Module {
  /// One reflected stored property.
  package enum Item {
    case tensor(String, Tensor)
    case child(String, Module, (any AnyChildSlot)?)
    case list(String, [Module])
  }

  /// Stored properties of the subclasses (not of `Module` itself), in declaration order,
  /// base classes first.
  package func reflectedItems() -> [Item] {
    var mirrors: [Mirror] = []
    var m: Mirror? = Mirror(reflecting: self)
    while let mirror = m, mirror.subjectType != Module.self {
      mirrors.append(mirror)
      m = mirror.superclassMirror
    }
    var items: [Item] = []
    for mirror in mirrors.reversed() {
      for child in mirror.children {
        guard let label = child.label else { continue }
        switch child.value {
        case let t as Tensor: items.append(.tensor(label, t))
        case let t as Tensor?: if let t { items.append(.tensor(label, t)) }
        case let slot as any AnyChildSlot:
          let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
          items.append(.child(name, slot.module, slot))
        case let c as Module: items.append(.child(label, c, nil))
        case let c as Module?: if let c { items.append(.child(label, c, nil)) }
        case let list as [Module]: items.append(.list(label, list))
        default: continue
        }
      }
    }
    return items
  }
}

extension Module {
  /// This module's own parameters (not its children's), in declaration order.
  ///
  /// Override together with ``Module/children()`` only for containers that hold their
  /// contents in a way reflection cannot see.
  package func reflectedParameters() -> [(String, Tensor)] {
    reflectedItems().compactMap { if case .tensor(let n, let t) = $0 { (n, t) } else { nil } }
  }

  /// The direct children with their names (`[Module]` properties expand to `name.0`, ...).
  package func reflectedChildren() -> [(String, Module)] {
    reflectedItems().flatMap { item -> [(String, Module)] in
      switch item {
      case .tensor: []
      case .child(let n, let m, _): [(n, m)]
      case .list(let n, let ms): ms.enumerated().map { ("\(n).\($0.offset)", $0.element) }
      }
    }
  }

  /// Replaces the direct child called `name`.
  ///
  /// - Throws: ``ModuleError/notReplaceable(_:)`` for children not declared with ``Child``,
  ///   ``ModuleError/typeMismatch(_:)`` when `module` does not fit the declared type.
  package func reflectedReplaceChild(named name: String, with module: Module) throws {
    for item in reflectedItems() {
      if case .child(let n, _, let slot) = item, n == name {
        guard let slot else { throw ModuleError.notReplaceable(name) }
        try slot.replace(with: module)
        return
      }
    }
    throw ModuleError.noSuchPath(name, available: reflectedChildren().map(\.0))
  }
}
