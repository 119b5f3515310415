extension ModelOptConfig {
  private static let entryKeys = ["quantizer_name", "quantizerName", "parent_class", "parentClass", "cfg", "enable", "optional"]
  private static let modelOptCfgKeys = [
    "enable", "num_bits", "effective_bits", "axis", "fake_quant", "unsigned", "narrow_range", "learn_amax", "type",
    "block_sizes", "bias", "trt_high_precision_dtype", "calibrator", "rotate", "pass_through_bwd", "backend",
    "backend_extra_args", "use_constant_amax", "constant_amax",
  ]
  private static let qatkitCfgKeys = [
    "format", "narrowRange", "blockSize", "dynamic", "passThroughSTE", "calibratorOptions", "algorithm", "algorithmOptions",
  ]

  /// Decodes a config in ModelOpt's JSON form (`quant_cfg` list, `algorithm`), QATKit's
  /// (`quantCfg`), or a preset name given as a JSON string.
  ///
  /// - Throws: ``ConfigError`` naming the key path (unknown keys with the nearest valid key in
  ///   either spelling, unsupported features with what to do instead).
  public init(json: JSONValue) throws {
    if case .string(let name) = json {
      try self.init(preset: name)
      return
    }
    var o = try StrictObject(json, context: Self.context)
    try o.rejectUnknown(known: ["quant_cfg", "quantCfg", "algorithm"])
    let listKey = o.members["quant_cfg"] != nil ? "quant_cfg" : "quantCfg"
    guard o.members["quant_cfg"] == nil || o.members["quantCfg"] == nil else {
      throw ConfigError.invalidValue(Self.context, path: "quantCfg", "give either quant_cfg or quantCfg, not both")
    }
    guard let listValue = o.value(listKey) else { throw ConfigError.missingKey(Self.context, path: "quant_cfg") }
    guard case .array(let list) = listValue else {
      if case .object = listValue {
        throw ConfigError.invalidValue(
          Self.context, path: listKey,
          "the dict form of quant_cfg (ModelOpt 0.43 and older) depends on key order, which JSON objects do not keep; "
            + "use the list form: [{\"quantizer_name\": \"*weight_quantizer\", \"cfg\": {...}}, ...]")
      }
      throw ConfigError.wrongType(Self.context, path: listKey, expected: "an array of rules")
    }
    let algorithmValue = o.members["algorithm"]
    _ = o.has("algorithm")
    let algorithm = try Self.algorithm(algorithmValue)
    let entries = try list.enumerated().map { try Self.entry($0.element, path: "\(listKey)[\($0.offset)]") }
    self.init(entries: entries, algorithm: algorithm)
  }

  /// `nil` (absent) is ModelOpt's default, max; `null` is no calibration.
  private static func algorithm(_ json: JSONValue?) throws -> Algorithm {
    guard let json else { return .max }
    if json == .null { return .none }
    var method: String
    var options = MSECalibrator.Options()
    switch json {
    case .string(let s): method = s
    case .object(let members):
      if case .string(let name)? = members["method"], !["max", "mse", "none"].contains(name) {
        return .calibration(try pluginAlgorithm(name, members))
      }
      var a = try StrictObject(json, context: context, path: "algorithm")
      try a.rejectUnknown(known: ["method", "start_multiplier", "stop_multiplier", "step_size", "distributed_sync", "moe_calib_experts_ratio"])
      method = try a.string("method") ?? "none"
      _ = try a.bool("distributed_sync")  // one process: nothing to synchronize
      _ = try a.double("moe_calib_experts_ratio")
      if method == "mse" {
        let start = try a.double("start_multiplier") ?? 0.25, stop = try a.double("stop_multiplier") ?? 4.0
        let step = try a.double("step_size") ?? 0.1
        guard start > 0, stop >= start, step > 0 else {
          throw ConfigError.invalidValue(context, path: "algorithm", "needs 0 < start_multiplier <= stop_multiplier and step_size > 0")
        }
        // Numbers from the file: the sweep length is checked before it becomes an Int (a
        // step of 1e-300 asked for more steps than Int holds), and bounded like the mse
        // calibrator's own `steps`.
        let sweep = ((stop - start) / step).rounded() + 1
        guard sweep.isFinite, sweep <= Double(MSECalibrator.maxSteps) else {
          throw ConfigError.invalidValue(
            context, path: "algorithm.step_size",
            "(stop_multiplier - start_multiplier) / step_size + 1 = \(sweep) candidate ranges; at most \(MSECalibrator.maxSteps)")
        }
        options.start = start
        options.stop = stop
        options.steps = Int(sweep)
      } else {
        for key in ["start_multiplier", "stop_multiplier", "step_size"] where a.has(key) {
          throw ConfigError.invalidValue(context, path: "algorithm.\(key)", "applies to the mse algorithm only")
        }
      }
    default:
      throw ConfigError.wrongType(context, path: "algorithm", expected: "a method name, {\"method\": ...} or null")
    }
    switch method {
    case "max": return .max
    case "mse": return .mse(options)
    case "none": return .none
    default: return .calibration(try pluginAlgorithm(method, [:]))
    }
  }

  /// A plugin algorithm (`smoothquant`, `awq_lite`, `gptq`, ...): its options with ModelOpt's
  /// snake_case keys in QATKit's camelCase (`alpha_step` → `alphaStep`), without the keys that
  /// only steer ModelOpt's memory use or logging (`debug`, `max_co_batch_size`, `fused`,
  /// `distributed_sync`, `moe_calib_experts_ratio`). Whether the name is registered and the
  /// options fit is checked when the `quantize` mode builds the algorithm.
  private static func pluginAlgorithm(_ method: String, _ members: [String: JSONValue]) throws -> CalibrationAlgorithmSpec {
    guard !method.isEmpty else { throw ConfigError.invalidValue(context, path: "algorithm.method", "empty algorithm name") }
    var options: [String: JSONValue] = [:]
    for (key, value) in members where key != "method" {
      if ["debug", "max_co_batch_size", "fused", "distributed_sync", "moe_calib_experts_ratio"].contains(key) { continue }
      let camel = Self.camelCase(key)
      guard options[camel] == nil else {
        throw ConfigError.invalidValue(context, path: "algorithm.\(key)", "given twice (as \(key) and \(camel))")
      }
      options[camel] = value
    }
    return CalibrationAlgorithmSpec(method, options: .object(options))
  }

  /// `alpha_step` → `alphaStep`; camelCase keys stay as they are.
  static func camelCase(_ key: String) -> String {
    let parts = key.split(separator: "_", omittingEmptySubsequences: true)
    guard let first = parts.first, parts.count > 1 else { return key }
    return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
  }

  private static func entry(_ json: JSONValue, path: String) throws -> Entry {
    var o = try StrictObject(json, context: context, path: path)
    try o.rejectUnknown(known: entryKeys)
    func either(_ a: String, _ b: String) throws -> String? {
      if o.members[a] != nil, o.members[b] != nil {
        throw ConfigError.invalidValue(context, path: o.keyPath(b), "give either \(a) or \(b), not both")
      }
      return try o.string(a) ?? o.string(b)
    }
    let name = try o.required(either("quantizer_name", "quantizerName"), "quantizer_name")
    let parent = try either("parent_class", "parentClass")
    let enable = try o.bool("enable")
    var cfg: QuantizerAttributes?
    if let c = o.value("cfg") {
      if case .array = c {
        throw ConfigError.invalidValue(
          context, path: o.keyPath("cfg"),
          "a list of cfgs (a sequential quantizer, e.g. INT4 then FP8 in W4A8_AWQ_BETA_CFG) is not supported; give one cfg")
      }
      cfg = try attributes(c, path: o.keyPath("cfg"))
    }
    if cfg == nil, enable == nil {
      throw ConfigError.invalidValue(context, path: path, "a rule needs 'cfg' or 'enable'")
    }
    if cfg == nil, enable == true {
      throw ConfigError.invalidValue(context, path: o.keyPath("enable"), "'enable': true without a cfg has nothing to enable; give the quantizer's cfg")
    }
    let optional = try o.bool("optional") ?? (cfg == nil)
    return Entry(quantizerName: name, parentClass: parent, cfg: cfg, enable: enable, optional: optional)
  }

  /// A `cfg` object in either spelling.
  static func attributes(_ json: JSONValue, path: String) throws -> QuantizerAttributes {
    var o = try StrictObject(json, context: context, path: path)
    try o.rejectUnknown(known: modelOptCfgKeys + qatkitCfgKeys)
    let usesModelOpt = o.members.keys.contains { modelOptCfgKeys.contains($0) && !qatkitCfgKeys.contains($0) && $0 != "enable" && $0 != "calibrator" }
    if !usesModelOpt {
      // QATKit's own spelling: its strict decoder.
      return try json.decode(QuantizerAttributes.self, context: context).validated(path: path)
    }
    func fail(_ key: String, _ message: String) -> ConfigError {
      ConfigError.invalidValue(context, path: o.keyPath(key), message)
    }
    func pair(_ a: String, _ b: String) throws {
      if o.members[a] != nil, o.members[b] != nil { throw fail(b, "give either \(a) or \(b), not both") }
    }
    try pair("num_bits", "format")
    try pair("narrow_range", "narrowRange")
    try pair("pass_through_bwd", "passThroughSTE")
    try pair("block_sizes", "blockSize")
    try pair("type", "dynamic")
    var a = QuantizerAttributes()
    a.enable = try o.bool("enable") ?? true
    a.narrowRange = try o.bool("narrow_range") ?? o.bool("narrowRange") ?? false
    a.passThroughSTE = try o.bool("pass_through_bwd") ?? o.bool("passThroughSTE") ?? true
    let unsigned = try o.bool("unsigned") ?? false
    // Accepted and ignored: the autoquant cost model and the ONNX export dtype.
    _ = try o.double("effective_bits")
    _ = try o.string("trt_high_precision_dtype")
    // Features QATKit does not have must be off.
    if try o.bool("fake_quant") == false { throw fail("fake_quant", "real (non-fake) quantization in the forward pass is not supported; export the model instead") }
    if try o.bool("learn_amax") == true { throw fail("learn_amax", "deprecated in ModelOpt; learned ranges are QATKit's \"algorithm\": \"lsq\" (plugin)") }
    if try o.bool("use_constant_amax") == true { throw fail("use_constant_amax", "constant ranges are not supported") }
    for key in ["bias", "backend", "backend_extra_args", "constant_amax"] where o.has(key) {
      throw fail(key, "'\(key)' is not supported by QATKit; remove it")
    }
    if let r = o.value("rotate"), r != .bool(false) { throw fail("rotate", "input rotation is not supported") }
    // Range granularity.
    if let axis = o.value("axis") {
      guard case .number(let d) = axis, let i = Int(exactly: d), abs(i) <= 64 else {
        throw fail("axis", "one integer axis (or null) is supported, got \(axis.text)")
      }
      a.axis = i
    }
    var blockSize: Int?
    var blockType = "static"
    var scaleBits: [Int]?
    if let b = o.value("block_sizes") {
      var bs = try StrictObject(b, context: context, path: o.keyPath("block_sizes"))
      let axisKeys = bs.members.keys.filter { !["type", "scale_bits", "scale_block_sizes", "four_over_six"].contains($0) }
      guard axisKeys == ["-1"] else {
        throw fail("block_sizes", "only blocks along the last axis (\"-1\") are supported, got keys \(axisKeys.sorted())")
      }
      guard let n = try bs.int("-1") else {
        throw fail("block_sizes", "per-token blocks (\"-1\": null) are not supported; give a block size")
      }
      blockSize = n
      blockType = try bs.string("type") ?? "static"
      guard ["static", "dynamic"].contains(blockType) else { throw fail("block_sizes.type", "must be \"static\" or \"dynamic\"") }
      scaleBits = try bs.ints("scale_bits")
      if bs.has("scale_block_sizes") { throw fail("block_sizes.scale_block_sizes", "double quantization of block scales is not supported") }
      if try bs.bool("four_over_six") == true { throw fail("block_sizes.four_over_six", "not supported") }
      try bs.finish()
    }
    if let t = try o.string("type") {
      guard ["static", "dynamic"].contains(t) else { throw fail("type", "must be \"static\" or \"dynamic\"") }
      a.dynamic = t == "dynamic"
    }
    if let d = try o.bool("dynamic") { a.dynamic = d }
    // The format.
    if let f = try o.string("format") {
      guard let format = QuantFormat(parsing: f) else { throw fail("format", "unknown format '\(f)'") }
      a.format = format
      a.blockSize = try blockSize ?? o.int("blockSize")
    } else {
      let bits = o.value("num_bits") ?? .number(8)
      switch bits {
      case .number(let d) where Int(exactly: d) != nil:
        a.format = .int(bits: Int(exactly: d)!, signed: !unsigned)
        a.blockSize = blockSize
        if blockType == "dynamic" { a.dynamic = true }
        if scaleBits != nil { throw fail("block_sizes.scale_bits", "scale bits apply to FP4 / MX formats") }
      case .array(let eb) where eb.count == 2:
        let pair = eb.map { v -> Int in if case .number(let d) = v, let i = Int(exactly: d) { i } else { -1 } }
        if unsigned { throw fail("unsigned", "unsigned applies to integer formats") }
        switch (pair[0], pair[1], blockSize, scaleBits) {
        case (2, 1, 16, [4, 3]?):
          guard blockType == "dynamic" else { throw fail("block_sizes.type", "NVFP4 with static block scales is not supported; use \"dynamic\"") }
          a.format = .nvfp4
        case (2, 1, 32, [8, 0]?):
          a.format = .mxfp4
        case (4, 3, 32, [8, 0]?):
          a.format = .mxfp8
        case (2, 1, _, _):
          throw fail("num_bits", "FP4 (E2M1) needs block scales: {\"-1\": 16, \"type\": \"dynamic\", \"scale_bits\": [4, 3]} (NVFP4) or {\"-1\": 32, \"type\": \"dynamic\", \"scale_bits\": [8, 0]} (MXFP4)")
        case (4, 3, _, nil), (5, 2, _, nil):
          a.format = pair[0] == 4 ? .e4m3 : .e5m2
          a.blockSize = blockSize
          if blockType == "dynamic" { a.dynamic = true }
        default:
          throw fail("num_bits", "E\(pair[0])M\(pair[1])\(scaleBits.map { " with scale bits \($0)" } ?? "") is not supported; QATKit has E4M3, E5M2, NVFP4 (E2M1 + E4M3 scales), MXFP4, MXFP8")
        }
      default:
        throw fail("num_bits", "must be an integer or [exponent, mantissa] bits, got \(bits.text)")
      }
    }
    if let c = try o.string("calibrator") {
      a.calibrator = c == "histogram" ? "entropy" : c
    } else if o.has("calibrator") {
      throw fail("calibrator", "a calibrator class is not supported; use a name: max, histogram, percentile, mse, entropy")
    }
    a.calibratorOptions = o.value("calibratorOptions")
    a.algorithm = try o.string("algorithm") ?? "static"
    a.algorithmOptions = o.value("algorithmOptions")
    _ = o.value("num_bits")
    _ = o.value("blockSize")
    try o.finish(known: modelOptCfgKeys + qatkitCfgKeys)
    return try a.validated(path: path)
  }
}

extension QuantizerAttributes {
  /// Self after ``validate(path:)``, with the config's context.
  fileprivate func validated(path: String) throws -> QuantizerAttributes {
    do { try validate(path: "") } catch ConfigError.invalidValue(_, let p, let m) {
      throw ConfigError.invalidValue(ModelOptConfig.context, path: p.isEmpty ? path : "\(path).\(p)", m)
    }
    return self
  }
}
