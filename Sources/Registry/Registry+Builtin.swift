import QATKit

extension Registry {
  /// The core modes, quantizers, calibrators, calibration algorithms, criteria, balancers and
  /// layer mappings of QATKit,
  /// without plugins (`InTreePlugins.registry` adds those).
  public static let builtin: Registry = {
    var r = Registry()
    // Built-in names are distinct by construction; a test registers them from scratch.
    try! r.registerBuiltins()
    return r
  }()

  mutating func registerBuiltins() throws {
    try register(mode: QuantizeMode.self)
    try register(mode: KDLossMode.self)
    try register(mode: ExportStudentMode.self)
    let env = QuantizationEnvironment.builtin
    let quantizerSummaries = ["static": "ModelOpt-style TensorQuantizer: INT2-8, FP8, NVFP4, MX; calibrated or dynamic ranges"]
    for (name, f) in env.quantizers.sorted(by: { $0.key < $1.key }) {
      try register(quantizer: name, summary: quantizerSummaries[name] ?? name, factory: f)
    }
    let calibratorSummaries = [
      "max": "absolute maximum", "percentile": "percentile of |x| (default 99.99)",
      "mse": "amax minimizing fake-quant MSE", "entropy": "KL-divergence over histograms (TensorRT)",
    ]
    for (name, f) in env.calibrators.sorted(by: { $0.key < $1.key }) {
      try register(calibrator: name, summary: calibratorSummaries[name] ?? name, factory: f)
    }
    for (name, f) in env.algorithms.sorted(by: { $0.key < $1.key }) {
      try register(algorithm: name, summary: name == "max" ? "plain calibration: each quantizer's calibrator (ModelOpt's default)" : name, factory: f)
    }
    for t in KDBuiltins.criterionTypes {
      try register(criterion: t.kind, summary: "distillation criterion '\(t.kind)'") { try KDBuiltins.makeCriterion($0) }
    }
    for t in KDBuiltins.balancerTypes {
      try register(balancer: t.kind, summary: "loss balancer '\(t.kind)'") { try KDBuiltins.makeBalancer($0) }
    }
    for layer: Module.Type in [Linear.self, Conv2d.self, Embedding.self, MultiHeadAttention.self] {
      try register(layer: layer, slots: layer.quantizerSlotNames)
    }
  }

  func installServices(into context: inout ModeContext) {
    context[QuantizationEnvironmentKey.self] = quantizationEnvironment
  }
}
