import QATKit

/// The `lsq_ranges` mode: after `quantize` (typically with a calibration algorithm: AWQ,
/// SmoothQuant, GPTQ, which work on the built-in quantizer), every enabled built-in `static`
/// integer quantizer with a calibrated range becomes an ``LSQQuantizer`` that starts from that
/// range (`_amax`, flattened in group order) and keeps its `_pre_quant_scale`; QAD then learns
/// the ranges. The algorithm's weights (scaled, re-rounded, folded) are parameters and stay as
/// they are.
///
/// `convert(model, modes: [.quantize(config.with(algorithm: ...)), .named("lsq_ranges")], ...)`.
///
/// Config keys: `activations` (default `true`: activation quantizers too; `false`: weight
/// quantizers only) and `gradScale` (LSQ's gradient scale, default `true`).
///
/// Metadata: per converted quantizer path its new attributes and state shapes. Restore puts an
/// ``LSQQuantizer`` with zero state of those shapes at each path (the state dict fills it);
/// where the `quantize` record already built one (it re-records the model when saving), it
/// only checks the attributes. FP8/FP4/MX, dynamic and disabled quantizers are left alone.
public enum LSQRangesMode: Mode {
  /// The options.
  public struct Config: PluginOptions, Equatable {
    /// Also convert activation (input/output) quantizers; `false`: weight quantizers only.
    public var activations = true
    /// LSQ's gradient scale `1/√(n·maxBound)` on the learned ranges.
    public var gradScale = true
    /// Defaults.
    public init() {}
  }

  /// One converted quantizer.
  struct Record: Codable, Equatable {
    var attributes: QuantizerAttributes
    var state: [String: [Int]]
  }

  /// `"lsq_ranges"`.
  public static var name: String { "lsq_ranges" }
  /// One line for listings.
  public static var summary: String {
    "turn calibrated built-in integer quantizers (e.g. after AWQ / SmoothQuant / GPTQ) into LSQ learned ranges"
  }

  /// Decodes strictly (unknown keys are errors naming them).
  public static func decode(_ json: JSONValue) throws -> Config {
    try JSONValue.decodeOptions(json, as: Config.self, context: "lsq_ranges config")
  }

  /// The quantizers `convert` replaces: enabled `static` integer quantizers with a range,
  /// not dynamic (activation quantizers only when `config.activations`).
  static func candidates(_ model: Module, config: Config) -> [(path: String, module: Module, slot: String, quantizer: TensorQuantizer)] {
    let modules = Dictionary(model.namedModules(), uniquingKeysWith: { a, _ in a })
    return model.namedQuantizers().compactMap { path, q in
      guard let tq = q as? TensorQuantizer, tq.isEnabled, tq.attributes.algorithm == "static",
        tq.attributes.format.isInteger, !tq.attributes.dynamic, tq.amax != nil
      else { return nil }
      let (mpath, slot) = split(path)
      guard let m = modules[mpath] else { return nil }
      let isWeight = m.ownParameters().contains { $0.0 + "_quantizer" == slot }
      guard config.activations || isWeight else { return nil }
      return (path, m, slot, tq)
    }
  }

  /// `"a.b.weight_quantizer"` → `("a.b", "weight_quantizer")`.
  static func split(_ path: String) -> (String, String) {
    guard let dot = path.lastIndex(of: ".") else { return ("", path) }
    return (String(path[..<dot]), String(path[path.index(after: dot)...]))
  }

  /// The LSQ attributes of a built-in quantizer's.
  static func lsqAttributes(_ attributes: QuantizerAttributes, config: Config) -> QuantizerAttributes {
    var a = attributes
    a.algorithm = "lsq"
    a.algorithmOptions = config.gradScale ? nil : .object(["gradScale": .bool(false)])
    return a
  }

  /// Replaces the candidates with LSQ quantizers starting from their ranges.
  ///
  /// - Throws: ``ConfigError`` when the model has no quantizer to convert (run `quantize` with
  ///   integer formats first); ``QuantizerError`` from a quantizer that rejects the state.
  public static func convert(_ model: Module, config: Config, context: ModeContext) throws -> (Module, JSONValue) {
    let found = candidates(model, config: config)
    guard !found.isEmpty else {
      throw ConfigError.invalidValue(
        "lsq_ranges config", path: "",
        "the model has no enabled, calibrated built-in ('static') integer quantizer to turn into learned ranges; run 'quantize' with int formats first")
    }
    var built: [(Module, String, LSQQuantizer)] = []
    var records: [String: Record] = [:]
    for (path, module, slot, tq) in found {
      let lsq: LSQQuantizer
      do {
        lsq = try LSQQuantizer(attributes: lsqAttributes(tq.attributes, config: config))
        try lsq.setRange(tq.amax!.scalars)
        try lsq.setPreQuantScale(tq.preQuantScale)
      } catch let e as QuantizerError {
        throw QuantizerError.calibrationFailed(path: path, "lsq_ranges: \(e)")
      }
      built.append((module, slot, lsq))
      records[path] = record(lsq)
    }
    for (m, slot, q) in built { m.setQuantizer(q, slot: slot) }
    return (model, try JSONValue.encoding(records))
  }

  static func record(_ q: LSQQuantizer) -> Record {
    Record(attributes: q.attributes, state: Dictionary(q.stateTensors().map { ($0.0, $0.1.shape) }, uniquingKeysWith: { a, _ in a }))
  }

  /// Puts LSQ quantizers with zero state of the recorded shapes at the recorded paths.
  ///
  /// - Throws: ``ConfigError`` for a path the model lacks, attributes that are not an LSQ
  ///   integer quantizer's, state shapes LSQ rejects or that do not fit the layer.
  public static func restore(_ model: Module, config: Config, metadata: JSONValue, context: ModeContext) throws -> Module {
    let records = try metadata.decode([String: Record].self, context: "lsq_ranges metadata")
    let modules = Dictionary(model.namedModules(), uniquingKeysWith: { a, _ in a })
    var built: [(Module, String, LSQQuantizer)] = []
    for path in records.keys.sorted() {
      let r = records[path]!
      let fail = { (message: String) in ConfigError.invalidValue("lsq_ranges metadata", path: path, message) }
      let (mpath, slot) = split(path)
      guard let m = modules[mpath], m.quantizer(slot: slot) != nil else {
        throw fail("the model has no quantizer at '\(path)' (lsq_ranges follows quantize, which puts one there)")
      }
      guard r.attributes.algorithm == "lsq" else { throw fail("recorded algorithm '\(r.attributes.algorithm)', expected 'lsq'") }
      if let existing = m.quantizer(slot: slot) as? LSQQuantizer {
        guard existing.attributes == r.attributes, record(existing).state == r.state else {
          throw fail("the quantize record built a different lsq quantizer here (\(record(existing).state) vs \(r.state))")
        }
        continue
      }
      let q: LSQQuantizer
      do {
        q = try LSQQuantizer(attributes: r.attributes)
        try q.allocateState(shapes: r.state)
        if let param = m.ownParameters().first(where: { $0.0 + "_quantizer" == slot })?.1 {
          try q.validate(inputShape: param.shape)
        }
      } catch {
        throw fail("\(error)")
      }
      built.append((m, slot, q))
    }
    for (m, slot, q) in built { m.setQuantizer(q, slot: slot) }
    return model
  }

  /// Re-records the converted quantizers' attributes and state shapes.
  public static func updateForSave(_ model: Module, config: Config, metadata: inout JSONValue) throws {
    let records = try metadata.decode([String: Record].self, context: "lsq_ranges metadata")
    let quantizers = Dictionary(model.namedQuantizers(), uniquingKeysWith: { a, _ in a })
    var fresh: [String: Record] = [:]
    for path in records.keys {
      guard let q = quantizers[path] as? LSQQuantizer else { continue }
      fresh[path] = record(q)
    }
    metadata = try JSONValue.encoding(fresh)
  }
}
