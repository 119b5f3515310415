public import Foundation
public import QATKit

/// One quantized layer of a unified checkpoint, dequantized.
public struct UnifiedLayer {
  /// Module path.
  public let path: String
  /// The layer's algorithm.
  public let algorithm: UnifiedAlgorithm
  /// Group size along the input dimension (grouped algorithms).
  public let groupSize: Int?
  /// The dequantized weight in its logical shape, as a runtime computes it from the codes:
  /// `q · weight_scale` (INT8, INT4, FP8), `e2m1 · (weight_scale · weight_scale_2)` (NVFP4),
  /// `e2m1 · 2^(e−127)` (MXFP4); W4A8 AWQ adds its FP8 stage,
  /// `e4m3(q · weight_scale / weight_scale_2) · weight_scale_2`. `pre_quant_scale` is not applied.
  public let weight: Tensor
  /// `input_scale` (per-tensor activation scale), if stored.
  public let inputScale: Float?
  /// `pre_quant_scale` (per input channel), if stored.
  public let preQuantScale: [Float]?

  /// The activation range `input_scale × maxBound` of the algorithm's activation format.
  public var inputAmax: Float? {
    guard let s = inputScale, let f = algorithm.inputFormat else { return nil }
    return f == .nvfp4 ? s * 2688 : s * f.maxBound
  }
}

/// A unified checkpoint read from disk and dequantized (see ``UnifiedCheckpoint/read(_:)``).
public struct UnifiedCheckpointContents {
  /// The directory.
  public let directory: URL
  /// `producer.name` and `producer.version` of `hf_quant_config.json`.
  public let producer: String
  /// `quantization.quant_algo`.
  public let quantAlgo: String
  /// `quantization.exclude_modules`.
  public let excludeModules: [String]
  /// The quantized layers, sorted by path.
  public let layers: [UnifiedLayer]
  /// Every other tensor (biases, norms, excluded layers' weights), as stored, in `Float`.
  public let tensors: [String: Tensor]
  /// `hf_quant_config.json`.
  public let quantConfig: JSONValue
  /// `config.json`, if present.
  public let hfConfig: JSONValue?
  /// The weight files, to compare raw bytes.
  let files: [String: SafeTensorsFile]

  /// The raw stored bytes and dtype of tensor `name`.
  func raw(_ name: String) throws -> (DType, [Int], [UInt8])? {
    guard let f = files[name] else { return nil }
    let info = try f.info(name)
    return (info.dtype, info.shape, try f.rawBytes(name))
  }

  /// Every tensor name in the weight files.
  var tensorNames: Set<String> { Set(files.keys) }
}

extension UnifiedCheckpoint {
  /// Reads a unified checkpoint directory (written by QATKit or by ModelOpt's
  /// `export_hf_checkpoint`; `model.safetensors` or shards listed in
  /// `model.safetensors.index.json`) and dequantizes every quantized weight.
  ///
  /// Everything is validated: the config's algorithms, each tensor's dtype and shape against
  /// its layer's algorithm and group size, scales finite and non-negative, and no quantized
  /// tensor without its scales.
  ///
  /// - Throws: ``ExportError/malformed(path:_:)`` naming the file and tensor.
  public static func read(_ directory: URL) throws -> UnifiedCheckpointContents {
    let dir = directory.standardizedFileURL
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
      throw ExportError.malformed(path: dir.path, "not a directory; a unified checkpoint is a directory with \(quantConfigFile) and \(weightsFile)")
    }
    let quantConfig = try readJSON(dir.appendingPathComponent(quantConfigFile), required: true)!
    let hfConfig = try readJSON(dir.appendingPathComponent(configFile), required: false)
    let configPath = dir.appendingPathComponent(quantConfigFile).path
    func bad(_ m: String) -> ExportError { .malformed(path: configPath, m) }
    guard case .object(let q)? = quantConfig["quantization"] else { throw bad("has no \"quantization\" object") }
    guard case .string(let algo)? = q["quant_algo"] else { throw bad("quantization.quant_algo is missing or not a string") }
    if let kv = q["kv_cache_quant_algo"], kv != .null {
      throw bad("KV-cache quantization (\(kv.text)) is not supported on import")
    }
    var producer = "unknown"
    if case .string(let n)? = quantConfig["producer"]?["name"] {
      producer = n
      if case .string(let v)? = quantConfig["producer"]?["version"] { producer += " \(v)" }
    }
    let exclude: [String]
    switch q["exclude_modules"] {
    case nil, .null?: exclude = []
    case .array(let a)?:
      exclude = try a.map { v -> String in
        guard case .string(let s) = v else { throw bad("exclude_modules holds a non-string: \(v.text)") }
        return s
      }
    default: throw bad("exclude_modules is not an array")
    }
    /// Algorithm and group size of the layer at `path`.
    func config(of path: String) throws -> (UnifiedAlgorithm, Int?) {
      var name = algo
      var group = q["group_size"]
      if algo == "MIXED_PRECISION" {
        guard case .object(let entry)? = q["quantized_layers"]?[path], case .string(let s)? = entry["quant_algo"] else {
          throw bad("MIXED_PRECISION without an entry for layer '\(path)' in quantized_layers")
        }
        name = s
        group = entry["group_size"]
      }
      guard let a = UnifiedAlgorithm(rawValue: name) else {
        throw bad("quant_algo '\(name)' is not supported; supported: \(UnifiedAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      switch group {
      case nil, .null?: return (a, nil)
      case .number(let g)? where g >= 1 && g <= Double(Int32.max) && g == g.rounded(): return (a, Int(g))
      default: throw bad("group_size \(group!.text) is not a positive integer")
      }
    }

    let files = try openWeights(dir)
    let names = Set(files.keys)
    let quantizedPaths = names.filter { $0 == "weight_scale" || $0.hasSuffix(".weight_scale") }
      .map { $0 == "weight_scale" ? "" : String($0.dropLast(".weight_scale".count)) }.sorted()
    var claimed = Set<String>()
    var layers: [UnifiedLayer] = []
    for path in quantizedPaths {
      let (a, g) = try config(of: path)
      let layer = try decodeLayer(path: path, algorithm: a, groupSize: g, files: files, claimed: &claimed)
      layers.append(layer)
    }
    var tensors: [String: Tensor] = [:]
    for name in names.sorted() where !claimed.contains(name) {
      let f = files[name]!
      let info = try f.info(name)
      guard info.dtype.isFloatingPoint, info.dtype != .f8E4M3, info.dtype != .f8E5M2 else {
        throw ExportError.malformed(
          path: dir.appendingPathComponent(weightsFile).path,
          "tensor '\(name)' is \(info.dtype.rawValue) but belongs to no quantized layer (no matching weight_scale)")
      }
      tensors[name] = try Tensor(f.floats(name), shape: info.shape)
    }
    return UnifiedCheckpointContents(
      directory: dir, producer: producer, quantAlgo: algo, excludeModules: exclude, layers: layers, tensors: tensors,
      quantConfig: quantConfig, hfConfig: hfConfig, files: files)
  }

  private static func readJSON(_ url: URL, required: Bool) throws -> JSONValue? {
    guard FileManager.default.fileExists(atPath: url.path) else {
      if required {
        throw ExportError.malformed(
          path: url.path, "missing; a unified checkpoint has \(quantConfigFile) next to its safetensors (is this a fake-quant checkpoint? export it first)")
      }
      return nil
    }
    do {
      let data = try Data(contentsOf: url)
      let value = try JSONValue(parsing: String(decoding: data, as: UTF8.self))
      guard case .object = value else { throw ExportError.malformed(path: url.path, "is not a JSON object") }
      return value
    } catch let e as ExportError {
      throw e
    } catch {
      throw ExportError.malformed(path: url.path, "cannot be read as JSON: \(error)")
    }
  }

  /// `model.safetensors`, or the shards of `model.safetensors.index.json`, by tensor name.
  private static func openWeights(_ dir: URL) throws -> [String: SafeTensorsFile] {
    func open(_ url: URL) throws -> SafeTensorsFile {
      do { return try SafeTensorsFile(contentsOf: url) } catch {
        throw ExportError.malformed(path: url.path, "\(error)")
      }
    }
    let index = dir.appendingPathComponent("model.safetensors.index.json")
    var shards: [URL] = []
    if FileManager.default.fileExists(atPath: index.path) {
      guard case .object(let map)? = try readJSON(index, required: true)?["weight_map"] else {
        throw ExportError.malformed(path: index.path, "has no weight_map object")
      }
      var names = Set<String>()
      for v in map.values {
        guard case .string(let s) = v, !s.contains("/") else {
          throw ExportError.malformed(path: index.path, "weight_map entry \(v.text) is not a file name in the directory")
        }
        names.insert(s)
      }
      shards = names.sorted().map { dir.appendingPathComponent($0) }
    } else {
      shards = [dir.appendingPathComponent(weightsFile)]
      guard FileManager.default.fileExists(atPath: shards[0].path) else {
        throw ExportError.malformed(path: shards[0].path, "missing (and there is no model.safetensors.index.json)")
      }
    }
    var out: [String: SafeTensorsFile] = [:]
    for url in shards {
      let f = try open(url)
      for name in f.names {
        guard out[name] == nil else { throw ExportError.malformed(path: url.path, "tensor '\(name)' appears in two shards") }
        out[name] = f
      }
    }
    return out
  }

  /// Validates and dequantizes one layer's tensors.
  private static func decodeLayer(
    path: String, algorithm a: UnifiedAlgorithm, groupSize: Int?, files: [String: SafeTensorsFile],
    claimed: inout Set<String>
  ) throws -> UnifiedLayer {
    func key(_ n: String) -> String { path.isEmpty ? n : "\(path).\(n)" }
    func fail(_ m: String) -> ExportError { .malformed(path: weightsFile, "layer '\(path)' (\(a.rawValue)): \(m)") }
    func info(_ n: String, required: Bool = true) throws -> SafeTensorInfo? {
      guard let f = files[key(n)] else {
        if required { throw fail("tensor '\(key(n))' is missing") }
        return nil
      }
      claimed.insert(key(n))
      return try f.info(key(n))
    }
    func expect(_ i: SafeTensorInfo, _ dtype: DType, _ shape: [Int]?) throws {
      guard i.dtype == dtype else { throw fail("'\(i.name)' is \(i.dtype.rawValue), expected \(dtype.rawValue)") }
      if let shape, i.shape != shape { throw fail("'\(i.name)' has shape \(i.shape), expected \(shape)") }
    }
    func floats(_ i: SafeTensorInfo, nonNegative: Bool = true) throws -> [Float] {
      let v = try files[i.name]!.floats(i.name)
      if let bad = v.first(where: { !$0.isFinite || (nonNegative && $0 < 0) }) {
        throw fail("'\(i.name)' holds \(bad); scales must be finite and non-negative")
      }
      return v
    }
    func scalar(_ n: String, required: Bool) throws -> Float? {
      guard let i = try info(n, required: required) else { return nil }
      try expect(i, .f32, nil)
      guard i.elementCount == 1 else { throw fail("'\(i.name)' has shape \(i.shape), expected a scalar") }
      return try floats(i)[0]
    }
    let w = try info("weight")!
    let s = try info("weight_scale")!
    // Sizes from the file: an empty quantized tensor may carry any other dimension (a shape
    // [2^62, 0] has no bytes), which would overflow or spin the loops below.
    for t in [w, s] where t.shape.contains(0) {
      throw fail("'\(t.name)' has shape \(t.shape); a quantized layer's tensors cannot be empty")
    }
    guard w.shape.count >= 2 || (a == .fp8 || a == .w8a16 || a == .w8a8) else {
      throw fail("'\(w.name)' has shape \(w.shape); the algorithm needs a 2-D weight")
    }
    let raw = try files[w.name]!.rawBytes(w.name)
    var shape: [Int]
    var values: [Float]
    var group: Int? = nil
    let inputScale = try scalar("input_scale", required: false)
    switch a {
    case .w8a16, .w8a8:
      try expect(w, .i8, nil)
      shape = w.shape
      let rows = shape.first ?? 1
      try expect(s, .f32, nil)
      let scale = try floats(s)
      guard scale.count == rows || scale.count == 1 else {
        throw fail("'\(s.name)' has \(scale.count) values for \(rows) output channels")
      }
      let inner = w.elementCount / Swift.max(rows, 1)
      values = raw.enumerated().map { i, b in Float(Int8(bitPattern: b)) * scale[scale.count == 1 ? 0 : i / inner] }
    case .w4a16AWQ, .w4a8AWQ:
      try expect(w, .u8, nil)
      guard w.shape.count == 2 else { throw fail("'\(w.name)' must be 2-D [out/2, in], got \(w.shape)") }
      let (out, inF) = (2 * w.shape[0], w.shape[1])
      shape = [out, inF]
      try expect(s, .f32, nil)
      guard s.shape.count == 2, s.shape[0] == out, s.shape[1] > 0, inF % s.shape[1] == 0 else {
        throw fail("'\(s.name)' has shape \(s.shape); expected [\(out), \(inF)/group]")
      }
      let g = inF / s.shape[1]
      if let groupSize, groupSize != g { throw fail("group_size is \(groupSize) but '\(s.name)' implies \(g)") }
      group = g
      let scale = try floats(s)
      let q = Nibbles.unpackAlongRows(raw, packedRows: w.shape[0], cols: inF)
      values = [Float](repeating: 0, count: out * inF)
      for r in 0..<out {
        for c in 0..<inF { values[r * inF + c] = Float(q[r * inF + c]) * scale[r * s.shape[1] + c / g] }
      }
      if a == .w4a8AWQ {
        guard let s2 = try scalar("weight_scale_2", required: true), s2 > 0 else { throw fail("weight_scale_2 must be positive") }
        values = values.map { QuantCodec.e4m3($0 / s2) * s2 }
      }
    case .fp8:
      try expect(w, .f8E4M3, nil)
      shape = w.shape
      try expect(s, .f32, nil)
      let scale = try floats(s)
      let rows = shape.first ?? 1
      guard scale.count == 1 || scale.count == rows else {
        throw fail("'\(s.name)' has \(scale.count) values; expected 1 (per tensor) or \(rows) (per output channel)")
      }
      let inner = w.elementCount / Swift.max(rows, 1)
      values = raw.enumerated().map { i, b in
        Minifloat.decode(UInt32(b), Minifloat.e4m3fn) * scale[scale.count == 1 ? 0 : i / inner]
      }
    case .nvfp4, .w4a16NVFP4, .mxfp4:
      try expect(w, .u8, nil)
      guard w.shape.count >= 2 else { throw fail("'\(w.name)' must be [out, in/2], got \(w.shape)") }
      shape = w.shape
      shape[shape.count - 1] *= 2
      let inF = shape[shape.count - 1]
      let nvfp4 = a != .mxfp4
      try expect(s, nvfp4 ? .f8E4M3 : .u8, nil)
      guard s.shape.count == shape.count, Array(s.shape.dropLast()) == Array(shape.dropLast()), let cols = s.shape.last,
        cols > 0, inF % cols == 0
      else {
        throw fail("'\(s.name)' has shape \(s.shape); expected \(Array(shape.dropLast())) followed by \(inF)/block columns")
      }
      let b = inF / cols
      if nvfp4 { group = b }
      if nvfp4, b != 16 { throw fail("NVFP4 blocks have 16 elements; '\(s.name)' implies \(b)") }
      if !nvfp4, b != 32 { throw fail("MXFP4 blocks have 32 elements; '\(s.name)' implies \(b)") }
      if let groupSize, groupSize != b { throw fail("group_size is \(groupSize) but '\(s.name)' implies \(b)") }
      let codes = Nibbles.unpackAlongLastAxis(raw)
      let blockScale: [Float]
      if nvfp4 {
        guard let s2 = try scalar("weight_scale_2", required: true) else { throw fail("weight_scale_2 is missing") }
        blockScale = try floats(s).map { $0 * s2 }
      } else {
        let e = try files[s.name]!.rawBytes(s.name)
        if e.contains(255) { throw fail("'\(s.name)' holds the E8M0 NaN code 255") }
        blockScale = e.map { Float(sign: .plus, exponent: Int($0) - 127, significand: 1) }
      }
      values = codes.enumerated().map { i, c in QuantCodec.e2m1Value(c) * blockScale[i / b] }
    }
    if let inputScale, !(inputScale > 0) { throw fail("input_scale must be positive, got \(inputScale)") }
    var pqs: [Float]? = nil
    if let p = try info("pre_quant_scale", required: false) {
      guard shape.count == 2 else {
        throw fail("has pre_quant_scale (one factor per input channel), which needs a 2-D weight; '\(w.name)' is \(shape)")
      }
      try expect(p, .f32, [shape[1]])
      pqs = try floats(p)
      if pqs!.contains(where: { !($0 > 0) }) { throw fail("pre_quant_scale factors must be positive") }
    }
    // Tensors the algorithm does not define are errors, not silently dropped.
    if a.inputFormat == nil, inputScale != nil {
      throw fail("has input_scale, but \(a.rawValue) keeps activations in full precision")
    }
    if files[key("weight_scale_2")] != nil, !claimed.contains(key("weight_scale_2")) {
      throw fail("has weight_scale_2, which \(a.rawValue) does not use")
    }
    return UnifiedLayer(
      path: path, algorithm: a, groupSize: group, weight: try Tensor(values, shape: shape), inputScale: inputScale,
      preQuantScale: pqs)
  }
}
