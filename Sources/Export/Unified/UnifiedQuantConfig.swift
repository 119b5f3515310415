import Foundation
import QATKit

/// The JSON of a unified checkpoint: `hf_quant_config.json` and the `quantization_config`
/// that ModelOpt mirrors into `config.json`.
enum UnifiedQuantConfig {
  /// `hf_quant_config.json` for the given layers and excluded modules.
  static func hfQuantConfig(layers: [UnifiedExportedLayer], excluded: [String]) -> JSONValue {
    var q: [String: JSONValue] = ["kv_cache_quant_algo": .null]
    let patterns = summarizeExclusions(excluded: excluded, quantized: layers.map(\.path))
    let configs = Set(layers.map { LayerKey(algorithm: $0.algorithm, groupSize: $0.groupSize) })
    if configs.count == 1, let only = configs.first {
      q.merge(layerConfig(only), uniquingKeysWith: { _, b in b })
    } else {
      q["quant_algo"] = .string("MIXED_PRECISION")
      var perLayer: [String: JSONValue] = [:]
      for l in layers { perLayer[l.path] = .object(layerConfig(LayerKey(algorithm: l.algorithm, groupSize: l.groupSize))) }
      q["quantized_layers"] = .object(perLayer)
    }
    q["exclude_modules"] = .array(patterns.map { .string($0) })
    return .object([
      "producer": .object([
        "name": .string(UnifiedCheckpoint.producerName), "version": .string(UnifiedCheckpoint.producerVersion),
      ]),
      "quantization": .object(q),
    ])
  }

  struct LayerKey: Hashable {
    var algorithm: UnifiedAlgorithm
    var groupSize: Int?
  }

  /// One layer's entry, as ModelOpt's `process_layer_quant_config` writes it.
  static func layerConfig(_ k: LayerKey) -> [String: JSONValue] {
    var o: [String: JSONValue] = ["quant_algo": .string(k.algorithm.rawValue)]
    if k.algorithm.hasGroupSize, let g = k.groupSize { o["group_size"] = .number(Double(g)) }
    if k.algorithm.isAWQ {
      o["has_zero_point"] = .bool(false)
      o["pre_quant_scale"] = .bool(true)
    }
    return o
  }

  /// `config.json`'s `quantization_config` from `hf_quant_config.json` (ModelOpt's
  /// `convert_hf_quant_config_format`): `config_groups` for FP8, NVFP4, W4A16_NVFP4 and mixed
  /// precision, `ignore`, `quant_algo`, `producer`, `quant_method: "modelopt"`.
  static func quantizationConfig(from hf: JSONValue) -> JSONValue {
    let q = hf["quantization"] ?? .object([:])
    var out: [String: JSONValue] = [:]
    let algo: String? = if case .string(let s)? = q["quant_algo"] { s } else { nil }
    func group(_ name: String) -> Int? { if case .number(let n)? = q[name] { Int(exactly: n) } else { nil } }
    if let algo, let a = UnifiedAlgorithm(rawValue: algo), [.fp8, .nvfp4, .w4a16NVFP4].contains(a) {
      var g = a.configGroup(groupSize: group("group_size"))
      g["targets"] = .array([.string("Linear")])
      out["config_groups"] = .object(["group_0": .object(g)])
    } else if algo == "MIXED_PRECISION", case .object(let layers)? = q["quantized_layers"] {
      var byConfig: [LayerKey: [String]] = [:]
      for (path, cfg) in layers {
        guard case .string(let s)? = cfg["quant_algo"], let a = UnifiedAlgorithm(rawValue: s) else { continue }
        let g: Int? = if case .number(let n)? = cfg["group_size"] { Int(exactly: n) } else { nil }
        byConfig[LayerKey(algorithm: a, groupSize: g), default: []].append(path)
      }
      var groups: [String: JSONValue] = [:]
      let ordered = byConfig.sorted { ($0.key.algorithm.rawValue, $0.key.groupSize ?? 0) < ($1.key.algorithm.rawValue, $1.key.groupSize ?? 0) }
      for (i, (k, paths)) in ordered.enumerated() {
        var g = k.algorithm.configGroup(groupSize: k.groupSize)
        g["targets"] = .array(paths.sorted().map { .string($0) })
        groups["group_\(i)"] = .object(g)
      }
      out["config_groups"] = .object(groups)
      out["quantized_layers"] = .object(layers)
    }
    out["ignore"] = q["exclude_modules"] ?? .array([])
    if let algo { out["quant_algo"] = .string(algo) }
    if let kv = q["kv_cache_quant_algo"], kv != .null { out["kv_cache_scheme"] = kv }
    if let p = hf["producer"] { out["producer"] = p }
    out["quant_method"] = .string("modelopt")
    return .object(out)
  }

  /// ModelOpt's `exclude_modules` summary: prefix wildcards cut at dots (`embeddings*`, or the
  /// pair `name` + `name.*` written as `name.*`), never one that a quantized layer's name would
  /// match, else the exact name.
  static func summarizeExclusions(excluded: [String], quantized: [String]) -> [String] {
    var forbidden = Set<String>()
    for q in quantized {
      forbidden.insert(q)
      for i in 0...q.count { forbidden.insert(String(q.prefix(i)) + "*") }
    }
    var result = Set<String>()
    for name in excluded {
      var candidates: [[String]] = []
      for (i, c) in name.enumerated() where c == "." {
        let prefix = String(name.prefix(i))
        candidates.append([prefix + "*"])
        candidates.append([prefix, prefix + ".*"])
      }
      candidates.append([name])
      var chosen: [String] = []
      for c in candidates {
        if c.contains(where: forbidden.contains) { continue }
        if c.allSatisfy(result.contains) { break }
        chosen = c
        break
      }
      if chosen.count == 2, chosen[1] == chosen[0] + ".*" {
        result.insert(chosen[1])
      } else {
        result.formUnion(chosen)
      }
    }
    return result.sorted()
  }

  /// Pretty JSON text with sorted keys and a final newline.
  static func text(_ value: JSONValue) throws -> Data {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    var data = try enc.encode(value)
    data.append(contentsOf: Array("\n".utf8))
    return data
  }
}
