import QATKit

/// Everything a mode may change on a model, captured so a failed conversion or restore can
/// put the model back exactly as it was (all-or-nothing).
struct ModelSnapshot {
  private let modules: [(Module, [(name: String, quantizer: any Quantizer)], [(id: Int, hook: (Tensor) -> Void)], Bool)]
  private let tensors: [(Tensor, [Float], Bool)]
  private let root: Module
  private let history: [ModeRecord]

  init(_ model: Module) {
    root = model
    history = model.modeHistory
    let mods = model.namedModules().map(\.1)
    modules = mods.map { ($0, $0.quantizerSlots, $0.outputHooks, $0.training) }
    var seen = Set<ObjectIdentifier>()
    var ts: [(Tensor, [Float], Bool)] = []
    for (_, t) in model.stateDict() + model.namedParameters() where seen.insert(ObjectIdentifier(t)).inserted {
      ts.append((t, t.scalars, t.requiresGrad))
    }
    tensors = ts
  }

  func rollback() {
    for (m, slots, hooks, training) in modules {
      m.quantizerSlots = slots
      m.outputHooks = hooks
      if m.training != training { m.setTrainingFlag(training) }
    }
    for (t, values, requiresGrad) in tensors {
      t.storage = values
      t.requiresGrad = requiresGrad
    }
    root.modeHistory = history
  }
}
