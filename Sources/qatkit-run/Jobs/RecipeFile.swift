import Foundation
import QATKit
import QATRegistry

/// A recipe file: data, model, the stages to run with their settings, and outputs. Decoded
/// strictly after `--set` overrides; relative paths resolve against the recipe's folder.
struct RecipeFile {
  static let context = "recipe"

  var name: String
  var data: DataOptions
  var model: ModelOptions
  /// FP32 training; nil uses the model's weights as they are.
  var train: TrainingSettings?
  var quantize: QuantRecipe?
  var qat: TrainingSettings?
  var distill: TrainingSettings?
  var kdCriterion: JSONValue
  var kdBalancer: JSONValue
  var outputDir: URL?
  var jsonFile: URL?
  var reportFile: URL?

  /// Reads `url`, applies `overrides` (`key.path=value`) and decodes.
  init(contentsOf url: URL, overrides: [String]) throws {
    guard let text = try? String(contentsOf: url, encoding: .utf8) else {
      throw CLIError.input("cannot read the recipe \(url.path)")
    }
    var json = try JSONValue(parsing: text)
    for o in overrides { json = try Self.apply(o, to: json) }
    try self.init(json: json, base: url.deletingLastPathComponent(), name: url.deletingPathExtension().lastPathComponent)
  }

  // MARK: --set

  /// Applies one `key.path=value` override; the value is JSON if it parses, else a string.
  static func apply(_ override: String, to json: JSONValue) throws -> JSONValue {
    guard let eq = override.firstIndex(of: "="), eq != override.startIndex else {
      throw CLIError.usage("--set expects KEY.PATH=VALUE (e.g. stages.qat.epochs=5), got '\(override)'")
    }
    let path = String(override[..<eq])
    let text = String(override[override.index(after: eq)...])
    let value = (try? JSONValue(parsing: text)) ?? .string(text)
    var keys: [String] = []
    for part in path.split(separator: ".", omittingEmptySubsequences: false) {
      guard !part.isEmpty else { throw CLIError.usage("--set: empty key in '\(path)'") }
      // `list[2]` addresses an array element.
      var rest = Substring(part)
      if let open = rest.firstIndex(of: "[") {
        keys.append(String(rest[..<open]))
        rest = rest[open...]
        while rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
          keys.append(String(rest[rest.index(after: rest.startIndex)..<close]))
          rest = rest[rest.index(after: close)...]
        }
        guard rest.isEmpty else { throw CLIError.usage("--set: cannot read the key '\(part)'") }
      } else {
        keys.append(String(rest))
      }
    }
    // Each key is one level of recursion (and of the JSON written back): a recipe is a few
    // levels deep, a path of thousands of keys is a mistake, not a recipe.
    guard keys.count <= maxKeyDepth else {
      throw CLIError.usage("--set: the key path has \(keys.count) keys; at most \(maxKeyDepth) (e.g. stages.qat.epochs=5)")
    }
    return try set(value, at: keys[...], in: json, path: "")
  }

  /// The most keys a `--set` path may have.
  static let maxKeyDepth = 32

  private static func set(_ value: JSONValue, at keys: ArraySlice<String>, in json: JSONValue, path: String) throws -> JSONValue {
    guard let key = keys.first else { return value }
    let here = path.isEmpty ? key : "\(path).\(key)"
    switch json {
    case .array(var a):
      guard let i = Int(key), a.indices.contains(i) else {
        throw CLIError.usage("--set: '\(here)': \(path) is a list of \(a.count); give an index 0...\(max(a.count - 1, 0))")
      }
      a[i] = try set(value, at: keys.dropFirst(), in: a[i], path: here)
      return .array(a)
    case .object(var o):
      o[key] = try set(value, at: keys.dropFirst(), in: o[key] ?? .object([:]), path: here)
      return .object(o)
    case .null:
      return .object([key: try set(value, at: keys.dropFirst(), in: .object([:]), path: here)])
    default:
      throw CLIError.usage("--set: '\(path)' is a value, not an object; cannot set '\(here)'")
    }
  }

  // MARK: Decoding

  init(json: JSONValue, base: URL, name: String) throws {
    self.name = name
    func file(_ s: String?) -> URL? { s.map { URL(fileURLWithPath: $0, relativeTo: base).standardizedFileURL } }
    func existing(_ s: String?, _ key: String) throws -> URL? {
      guard let url = file(s) else { return nil }
      guard FileManager.default.fileExists(atPath: url.path) else {
        throw ConfigError.invalidValue(Self.context, path: key, "no such file '\(url.path)' (paths are relative to the recipe)")
      }
      return url
    }
    var root = try StrictObject(json, context: Self.context)
    try root.rejectUnknown(known: ["data", "model", "stages", "output"])

    // data
    if let d = root.value("data") {
      var o = try StrictObject(d, context: Self.context, path: "data")
      try o.rejectUnknown(known: ["file", "label_column", "test_file", "test_fraction", "seed", "ignore_columns", "standardize", "input_shape"])
      let fraction = try o.double("test_fraction")
      if let fraction, !(0.01...0.99).contains(fraction) {
        throw ConfigError.invalidValue(Self.context, path: "data.test_fraction", "must be between 0.01 and 0.99, got \(fraction)")
      }
      let seed = try o.int("seed")
      if let seed, seed < 0 { throw ConfigError.invalidValue(Self.context, path: "data.seed", "must be >= 0") }
      let ignored = try (o.array("ignore_columns") ?? []).enumerated().map { i, v -> String in
        guard case .string(let s) = v else { throw ConfigError.wrongType(Self.context, path: "data.ignore_columns[\(i)]", expected: "a string") }
        return s
      }
      let shape = try o.ints("input_shape")
      if let shape, shape.isEmpty || shape.contains(where: { $0 < 1 }) {
        throw ConfigError.invalidValue(Self.context, path: "data.input_shape", "dimensions must be positive")
      }
      data = DataOptions(
        file: try existing(o.string("file"), "data.file"), labelColumn: try o.string("label_column"),
        testFile: try existing(o.string("test_file"), "data.test_file"), testFraction: fraction, seed: seed.map(UInt64.init),
        ignored: ignored, inputShape: shape, standardize: try o.bool("standardize") ?? true)
      if data.file == nil, data.testFile != nil || data.labelColumn != nil {
        throw ConfigError.missingKey(Self.context, path: "data.file")
      }
    } else {
      data = DataOptions(file: nil, labelColumn: nil, testFile: nil, testFraction: nil, seed: nil, ignored: [], inputShape: nil, standardize: true)
    }

    // model
    var archFile: URL? = nil
    var declared: Architecture? = nil
    var weights: URL? = nil
    var renaming = KeyRenaming()
    var hidden: [Int]? = nil
    if let m = root.value("model") {
      var o = try StrictObject(m, context: Self.context, path: "model")
      try o.rejectUnknown(known: ["architecture", "weights", "rename", "hidden"])
      switch o.value("architecture") {
      case .string(let s)?:
        archFile = try existing(s, "model.architecture")
        declared = try Architecture(contentsOf: archFile!)
      case let v?:
        do { declared = try Architecture(json: v) } catch let e as ConfigError {
          throw e.underPath("model.architecture")
        }
      case nil: break
      }
      weights = try existing(o.string("weights"), "model.weights")
      let rules = try (o.array("rename") ?? []).enumerated().map { i, v -> String in
        guard case .string(let s) = v else { throw ConfigError.wrongType(Self.context, path: "model.rename[\(i)]", expected: "a \"FROM=TO\" string") }
        return s
      }
      renaming = try KeyRenaming(parsing: rules)
      hidden = try o.ints("hidden")
    }
    model = try ModelOptions(architectureFile: archFile, declared: declared, weights: weights, renaming: renaming, hidden: hidden)

    // stages
    guard let stagesValue = root.value("stages") else { throw ConfigError.missingKey(Self.context, path: "stages") }
    var stages = try StrictObject(stagesValue, context: Self.context, path: "stages")
    try stages.rejectUnknown(known: ["train", "quantize", "qat", "distill"])
    train = try stages.value("train").map { try Self.training($0, path: "stages.train", defaultLR: 1e-3, extra: []).settings }
    if train == nil, weights == nil {
      throw ConfigError.invalidValue(Self.context, path: "stages", "without a train stage the model needs weights (model.weights)")
    }
    if let q = stages.value("quantize") {
      var o = try StrictObject(q, context: Self.context, path: "stages.quantize")
      try o.rejectUnknown(known: ["config", "calibrator", "learned_ranges"])
      guard let c = o.value("config") else { throw ConfigError.missingKey(Self.context, path: "stages.quantize.config") }
      let (config, title): (ModelOptConfig, String)
      do {
        if case .string(let preset) = c { (config, title) = (try ModelOptConfig(preset: preset), preset) }
        else { (config, title) = (try ModelOptConfig(json: c), name) }
      } catch let e as ConfigError {
        throw e.underPath("stages.quantize.config")
      }
      let learned = try o.bool("learned_ranges") ?? false
      let calibrator = try o.string("calibrator")
      quantize = QuantRecipe(
        tag: QuantOptions.slug(title), title: title,
        ranges: learned ? "mse → LSQ learned" : Self.rangesLabel(config, calibrator: calibrator), config: config, calibrator: calibrator,
        learned: learned)
    }
    qat = try stages.value("qat").map { try Self.training($0, path: "stages.qat", defaultLR: 1e-4, extra: []).settings }
    kdCriterion = .object(["kind": .string("logits_kl"), "temperature": .number(1)])
    kdBalancer = .object(["kind": .string("static"), "kd_weights": .array([.number(0.5)])])
    if let d = stages.value("distill") {
      let (settings, extra) = try Self.training(d, path: "stages.distill", defaultLR: 1e-4, extra: ["criterion", "balancer"])
      distill = settings
      if let c = extra["criterion"] { kdCriterion = c }
      if let b = extra["balancer"] { kdBalancer = b }
    }
    if (qat != nil || distill != nil), quantize == nil {
      throw ConfigError.invalidValue(Self.context, path: "stages", "qat and distill fine-tune a quantized model; add a quantize stage")
    }

    // output
    if let out = root.value("output") {
      var o = try StrictObject(out, context: Self.context, path: "output")
      try o.rejectUnknown(known: ["dir", "json", "report"])
      outputDir = try o.string("dir").map { URL(fileURLWithPath: $0) }
      jsonFile = try o.string("json").map { URL(fileURLWithPath: $0, relativeTo: outputDir ?? URL(fileURLWithPath: "runs/\(name)")) }
      reportFile = try o.string("report").map { URL(fileURLWithPath: $0, relativeTo: outputDir ?? URL(fileURLWithPath: "runs/\(name)")) }
    }
  }

  /// `max, frozen`, `mse, frozen` or `dynamic` for a config and an optional calibrator.
  static func rangesLabel(_ config: ModelOptConfig, calibrator: String?) -> String {
    switch config.algorithm {
    case .none: return "dynamic"
    case .mse: return "mse, frozen"
    case .max: return "\(calibrator ?? "max"), frozen"
    case .calibration(let spec): return "\(spec.method), frozen"
    }
  }

  /// A training stage: epochs, batch_size, optimizer {kind, lr, weight_decay, momentum,
  /// range_lr}, schedule {kind, min_lr, warmup_steps, every, gamma}, plus `extra` keys.
  private static func training(
    _ json: JSONValue, path: String, defaultLR: Float, extra: [String]
  ) throws -> (settings: TrainingSettings, extra: [String: JSONValue]) {
    var o = try StrictObject(json, context: context, path: path)
    try o.rejectUnknown(known: ["epochs", "batch_size", "optimizer", "schedule"] + extra)
    var s = TrainingSettings(epochs: try o.int("epochs") ?? 10, batchSize: try o.int("batch_size") ?? 0, learningRate: defaultLR)
    guard s.epochs >= 0 else { throw ConfigError.invalidValue(context, path: "\(path).epochs", "must be >= 0") }
    guard s.batchSize >= 0 else { throw ConfigError.invalidValue(context, path: "\(path).batch_size", "must be > 0") }
    if let opt = o.value("optimizer") {
      var p = try StrictObject(opt, context: context, path: "\(path).optimizer")
      try p.rejectUnknown(known: ["kind", "lr", "weight_decay", "momentum", "range_lr"])
      s.optimizer = try p.string("kind") ?? "adam"
      guard ["adam", "adamw", "sgd"].contains(s.optimizer) else {
        let near = ParsedArguments.nearest(s.optimizer, in: ["adam", "adamw", "sgd"])
        throw ConfigError.invalidValue(context, path: "\(path).optimizer.kind", "unknown optimizer '\(s.optimizer)'\(near.map { " (did you mean '\($0)'?)" } ?? ""); use adam, adamw or sgd")
      }
      for (key, keyPath) in [("lr", \TrainingSettings.learningRate), ("weight_decay", \.weightDecay), ("momentum", \.momentum), ("range_lr", \.rangeLearningRate)] {
        if let v = try p.double(key) {
          guard v >= 0, v < 1e3 else { throw ConfigError.invalidValue(context, path: "\(path).optimizer.\(key)", "must be >= 0, got \(v)") }
          s[keyPath: keyPath] = Float(v)
        }
      }
      if s.optimizer == "adamw", !p.members.keys.contains("weight_decay") { s.weightDecay = 0.01 }
    }
    if let sch = o.value("schedule") {
      var p = try StrictObject(sch, context: context, path: "\(path).schedule")
      try p.rejectUnknown(known: ["kind", "min_lr", "warmup_steps", "every", "gamma"])
      let kind = try p.string("kind") ?? "constant"
      let warmup = try p.int("warmup_steps") ?? 0
      var base: LRSchedule
      switch kind {
      case "constant": base = .constant
      case "cosine": base = .cosine(total: -1, minimum: Float(try p.double("min_lr") ?? 0))
      case "step":
        guard let every = try p.int("every"), every > 0 else { throw ConfigError.missingKey(context, path: "\(path).schedule.every") }
        base = .step(every: every, gamma: Float(try p.double("gamma") ?? 0.1))
      default:
        throw ConfigError.invalidValue(context, path: "\(path).schedule.kind", "unknown schedule '\(kind)'; use constant, cosine or step")
      }
      if warmup > 0 { base = .warmup(steps: warmup, then: base) }
      s.schedule = base
    }
    var extras: [String: JSONValue] = [:]
    for key in extra { if let v = o.value(key) { extras[key] = v } }
    return (s, extras)
  }

  // MARK: Running

  /// The pipeline for this recipe (data loaded, defaults filled in).
  func pipeline(command: String) throws -> Pipeline {
    let prepared = try data.load(modelInputShape: model.declaredInputShape())
    let rows = prepared.train.count
    func complete(_ s: TrainingSettings?) -> TrainingSettings? {
      guard var s else { return nil }
      if s.batchSize == 0 { s.batchSize = TrainOptionsDefaults.batch(rows: rows) }
      s.seed = prepared.record.seed
      // A cosine schedule decays over the whole stage.
      let total = s.epochs * ((rows + s.batchSize - 1) / s.batchSize)
      if case .cosine(_, let m) = s.schedule { s.schedule = .cosine(total: total, minimum: m) }
      if case .warmup(let w, .cosine(_, let m)) = s.schedule { s.schedule = .warmup(steps: w, then: .cosine(total: max(total - w, 1), minimum: m)) }
      return s
    }
    let fp32 = complete(train) ?? TrainingSettings(epochs: 0, batchSize: TrainOptionsDefaults.batch(rows: rows), learningRate: 1e-3)
    let registry = Checkpoints.registry
    let criterion = try registry.makeCriterion(kdCriterion)
    let balancer = try registry.makeBalancer(kdBalancer)
    let out = outputDir ?? URL(fileURLWithPath: "runs").appendingPathComponent(name)
    var lines = ["FP32: " + (train == nil ? "the model's weights, not trained" : fp32.summary)]
    if let q = quantize { lines.append("quantize: \(q.title), \(q.ranges)") }
    if let s = complete(qat) { lines.append("QAT: \(s.summary)") }
    if let s = complete(distill) { lines.append("QAT+KD: \(s.summary); criterion \(criterion.spec.text), balancer \(balancer.spec.text)") }
    return Pipeline(
      data: prepared, modelOptions: model, fp32Settings: fp32, recipes: quantize.map { [$0] } ?? [],
      qatSettings: complete(qat), kdSettings: complete(distill),
      makeKD: { teacher in KDConfig(teacher: teacher, criterion: criterion, balancer: balancer) },
      settingsLines: lines, out: out, json: jsonFile ?? out.appendingPathComponent("results.json"),
      report: reportFile ?? out.appendingPathComponent("report.html"), command: command)
  }
}

extension ConfigError {
  /// The same error with its key path under `prefix`.
  func underPath(_ prefix: String) -> ConfigError {
    func join(_ p: String) -> String { p.isEmpty ? prefix : (p.hasPrefix("[") ? prefix + p : "\(prefix).\(p)") }
    switch self {
    case .invalidJSON: return self
    case .unknownKey(_, let p, let known): return .unknownKey(RecipeFile.context, path: join(p), known: known)
    case .missingKey(_, let p): return .missingKey(RecipeFile.context, path: join(p))
    case .wrongType(_, let p, let t): return .wrongType(RecipeFile.context, path: join(p), expected: t)
    case .invalidValue(_, let p, let m): return .invalidValue(RecipeFile.context, path: join(p), m)
    }
  }
}
