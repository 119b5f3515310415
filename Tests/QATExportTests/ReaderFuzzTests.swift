import Foundation
import QATKit
import QATRegistry
import Testing
@testable import QATExport

/// Issue 10's rule for the export target's readers: nothing an `.onnx` file or a unified /
/// ModelOpt checkpoint directory (`hf_quant_config.json`, `config.json`, the safetensors
/// header and values) holds may trap or hang. Seeded mutations of real files (QATKit's ONNX
/// export of a quantized MLP; ModelOpt 0.47's own exports in `Fixtures/modelopt_export`):
/// every mutated input must either read, or throw. What reads is used further: every ONNX
/// initializer's values, and for a checkpoint `stateDict()`, `load(into:)` a fresh model and
/// a forward pass through every quantized layer.
///
/// Seeded: `QATKIT_FUZZ_SEED` (default 10); `QATKIT_READER_FUZZ_CASES` (default 2000 ONNX cases,
/// and a 25th of that, 80, checkpoint directories; e.g. 50000 for a long run).
@Suite struct ReaderFuzzTests {
  static func environment(_ name: String, default value: Int) -> Int {
    ProcessInfo.processInfo.environment[name].flatMap(Int.init) ?? value
  }

  /// Values that break sizes: zero, negative, odd, huge, beyond `Int`.
  static let hostileNumbers: [Double] = [0, -1, 1, 2, 3, 7, 16, 17, 32, 1e9, 4294967296, 4.611686018427388e18, 1e300, -9.2e18, 0.5]

  // MARK: ONNX

  static func onnxBytes() throws -> [UInt8] {
    let m = MLP([8, 6, 4], seed: 1)
    var rng = RandomGenerator(seed: 2)
    let x = Tensor.randn([16, 8], using: &rng)
    try convert(m, modes: [.quantize(QuantizeConfig(preset: .int8))], forwardLoop: { _ = $0(x) })
    return try ONNXExporter.standard.graph(for: m, inputShape: [1, 8]).serialized()
  }

  /// A varint of `v` (protobuf wire format).
  static func varint(_ v: UInt64) -> [UInt8] {
    var v = v, out: [UInt8] = []
    while v >= 0x80 {
      out.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    out.append(UInt8(v))
    return out
  }

  static func mutateONNX(_ bytes: inout [UInt8], _ rng: inout RandomGenerator) {
    func pick<T>(_ a: [T]) -> T { a[rng.nextInt(below: a.count)] }
    guard !bytes.isEmpty else { return }
    let at = rng.nextInt(below: bytes.count)
    switch rng.nextInt(below: 6) {
    case 0: bytes[at] ^= UInt8(1 << rng.nextInt(below: 8))
    case 1: bytes[at] = pick([0x00, 0x7F, 0x80, 0xFF, 0x08, 0x0A, 0x12, 0x3A])
    case 2: bytes.removeSubrange(at..<min(bytes.count, at + 1 + rng.nextInt(below: 16)))
    case 3:
      // A huge varint where a size or a dimension was: packed dims (field 1) and lengths.
      bytes.replaceSubrange(at..<min(bytes.count, at + 1), with: varint(pick([1 << 32, 1 << 62, UInt64.max, 1 << 31, 0])))
    case 4:
      // A tensor dims field: `0x0A len <varints>` with two large dimensions.
      let dims = varint(pick([1 << 33, 1 << 40, 1 << 62, 3])) + varint(pick([1 << 33, 1 << 31, 0, UInt64.max]))
      bytes.insert(contentsOf: [0x0A, UInt8(dims.count)] + dims, at: at)
    default: bytes = Array(bytes.prefix(at))
    }
  }

  @Test func mutatedONNXNeverTraps() throws {
    let original = try Self.onnxBytes()
    let cases = Self.environment("QATKIT_READER_FUZZ_CASES", default: 2000)
    var rng = RandomGenerator(seed: UInt64(Self.environment("QATKIT_FUZZ_SEED", default: 10)) &+ 101)
    var parsed = 0
    for _ in 0..<cases {
      var bytes = original
      for _ in 0..<(1 + rng.nextInt(below: 3)) { Self.mutateONNX(&bytes, &rng) }
      guard let model = try? ONNXModel(bytes: bytes) else { continue }
      parsed += 1
      for t in model.graph.initializers {
        #expect(t.count >= 0)
        _ = t.floats
        _ = t.int64s
      }
      for n in model.graph.nodes { _ = n.attributes.count }
    }
    // The mutations reach past the parser's first checks.
    #expect(cases < 50 || parsed > 0)
  }

  /// Sizes from the file are checked before anything is multiplied: two dimensions whose
  /// product overflows `Int` are an error, not a trap.
  @Test func onnxTensorWithOverflowingDimsIsAnError() throws {
    var w = Protobuf.Writer()
    w.packedInts(1, [1 << 40, 1 << 40])
    w.int(2, Int64(ONNXDataType.float.rawValue))
    w.string(8, "t")
    var g = Protobuf.Writer()
    g.bytes(5, w.bytes)
    var m = Protobuf.Writer()
    m.int(1, 8)
    m.bytes(7, g.bytes)
    #expect { try ONNXModel(bytes: m.bytes) } throws: { e in
      guard case ExportError.malformed = e else { return false }
      return "\(e)".contains("tensor 't'")
    }
  }

  // MARK: Unified checkpoints

  static let kinds = ["fp8", "int8_sq", "int4_awq", "w4a8_awq", "nvfp4", "mxfp4"]

  /// A copy of ModelOpt's export `kind` that a mutation may edit.
  static func copy(_ kind: String) throws -> URL {
    let dst = tempURL(kind)
    try FileManager.default.copyItem(at: fixtures().appendingPathComponent("modelopt_export/\(kind)"), to: dst)
    return dst
  }

  static func editJSON(_ url: URL, _ edit: (inout JSONValue) -> Void) throws {
    // An earlier edit may have removed the file or written text that is not JSON.
    var v = (try? JSONValue(parsing: String(decoding: try Data(contentsOf: url), as: UTF8.self))) ?? .object([:])
    edit(&v)
    try Data(v.text.utf8).write(to: url)
  }

  /// `value` at `keys` of `json` (objects created on the way).
  static func setting(_ json: JSONValue, _ keys: ArraySlice<String>, _ value: JSONValue?) -> JSONValue {
    guard let k = keys.first else { return value ?? .null }
    guard case .object(var o) = json else { return json }
    if keys.count == 1, value == nil {
      o[k] = nil
    } else {
      o[k] = setting(o[k] ?? .object([:]), keys.dropFirst(), value)
    }
    return .object(o)
  }

  /// One semantic edit of a checkpoint directory; returns what it did.
  static func mutateCheckpoint(_ dir: URL, _ rng: inout RandomGenerator) throws -> String {
    func pick<T>(_ a: [T]) -> T { a[rng.nextInt(below: a.count)] }
    let quant = dir.appendingPathComponent("hf_quant_config.json")
    let weights = dir.appendingPathComponent("model.safetensors")
    switch rng.nextInt(below: 10) {
    case 0:
      let algo = pick(UnifiedAlgorithm.allCases.map(\.rawValue) + ["MIXED_PRECISION", "bogus", ""])
      try editJSON(quant) { $0 = setting($0, ["quantization", "quant_algo"], .string(algo)) }
      return "quant_algo=\(algo)"
    case 1:
      let g = pick(hostileNumbers)
      try editJSON(quant) { $0 = setting($0, ["quantization", "group_size"], .number(g)) }
      return "group_size=\(g)"
    case 2:
      let v: JSONValue = pick([.null, .number(3), .array([.number(1)]), .string("x"), .object([:]), .array([])])
      let key = pick(["exclude_modules", "quantized_layers", "kv_cache_quant_algo", "quant_algo", "group_size"])
      try editJSON(quant) { $0 = setting($0, ["quantization", key], v) }
      return "quantization.\(key)=\(v.text)"
    case 3:
      // MIXED_PRECISION with per-layer entries of hostile algorithms and group sizes.
      let names = (try? SafeTensorsFile(contentsOf: weights))?.names ?? []
      let paths = names.filter { $0.hasSuffix(".weight_scale") }.map { String($0.dropLast(".weight_scale".count)) }
      var layers: [String: JSONValue] = [:]
      for p in paths where rng.nextInt(below: 4) != 0 {
        var e: [String: JSONValue] = ["quant_algo": .string(pick(UnifiedAlgorithm.allCases.map(\.rawValue) + ["nope"]))]
        if rng.nextInt(below: 2) == 0 { e["group_size"] = .number(pick(hostileNumbers)) }
        layers[p] = .object(e)
      }
      try editJSON(quant) {
        $0 = setting($0, ["quantization", "quant_algo"], .string("MIXED_PRECISION"))
        $0 = setting($0, ["quantization", "quantized_layers"], .object(layers))
      }
      return "MIXED_PRECISION \(layers.count) layers"
    case 4:
      let url = pick([quant, dir.appendingPathComponent("config.json")])
      let text = pick([
        "", "[]", "null", "{", "1e999", String(repeating: "[", count: 100_000), "{\"quantization\": " + String(repeating: "{\"a\":", count: 600),
        "{\"quantization\": {\"quant_algo\": \"FP8\", \"group_size\": 99999999999999999999999}}",
      ])
      try Data(text.utf8).write(to: url)
      return "\(url.lastPathComponent) = \(text.prefix(40))"
    case 5:
      try FileManager.default.removeItem(at: pick([quant, weights, dir.appendingPathComponent("config.json")]))
      return "removed a file"
    default:
      return try mutateWeights(weights, &rng)
    }
  }

  /// One edit of the safetensors: a tensor's shape (same byte count, or an empty tensor with
  /// a huge dimension), its dtype, its values (NaN, ∞, negative, 0, huge scales, the E8M0 NaN
  /// code), its name, or a tensor dropped or added.
  static func mutateWeights(_ url: URL, _ rng: inout RandomGenerator) throws -> String {
    func pick<T>(_ a: [T]) -> T { a[rng.nextInt(below: a.count)] }
    guard let file = try? SafeTensorsFile(contentsOf: url), !file.names.isEmpty else { return "weights already gone" }
    var tensors: [SafeTensors.Tensor] = try file.names.map { n in
      let i = try file.info(n)
      return (n, i.dtype, i.shape, try file.rawBytes(n))
    }
    let interesting = tensors.indices.filter { !tensors[$0].name.contains("embeddings") }
    let k = interesting.isEmpty ? rng.nextInt(below: tensors.count) : pick(interesting)
    var t = tensors[k]
    var what = "\(t.name) \(t.dtype.rawValue) \(t.shape): "
    switch rng.nextInt(below: 7) {
    case 0:
      // Same elements, other factorization.
      let n = t.shape.reduce(1, *)
      let divisors = (1...max(1, min(n, 4096))).filter { n % $0 == 0 }
      let d = pick(divisors)
      t.shape = pick([[n / d, d], [d, n / d], [n], [1, n], [n / d, d, 1], []].filter { $0.reduce(1, *) == n })
      what += "shape \(t.shape)"
    case 1:
      // Empty, with a huge other dimension.
      t.shape = pick([[0, 1 << 62], [1 << 62, 0], [0], [0, 0], [Int.max, 0], [0, 16], [16, 0]])
      t.bytes = []
      what += "shape \(t.shape), no bytes"
    case 2:
      let same: [DType] = switch t.dtype.byteSize {
      case 1: [.u8, .i8, .f8E4M3, .f8E5M2]
      case 2: [.f16, .bf16, .i16]
      case 4: [.f32, .i32]
      default: [.f64, .i64]
      }
      t.dtype = pick(same)
      what += "dtype \(t.dtype.rawValue)"
    case 3:
      // Hostile values: for f32 tensors (scales) NaN, ±∞, negative, 0, huge, tiny; bytes else.
      if t.dtype == .f32, !t.bytes.isEmpty {
        let v = pick([Float.nan, .infinity, -.infinity, -1, 0, 3e38, .leastNonzeroMagnitude, 1e-30])
        let i = rng.nextInt(below: t.bytes.count / 4)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { t.bytes.replaceSubrange((4 * i)..<(4 * i + 4), with: $0) }
        what += "value[\(i)] = \(v)"
      } else if !t.bytes.isEmpty {
        let i = rng.nextInt(below: t.bytes.count)
        t.bytes[i] = pick([0xFF, 0x7F, 0x80, 0x00, 0xFE])
        what += "byte[\(i)] = \(t.bytes[i])"
      }
    case 4:
      tensors.remove(at: k)
      try SafeTensors.write(tensors, metadata: file.metadata, to: url)
      return what + "removed"
    case 5:
      t.name = pick([
        t.name + "_2", String(t.name.split(separator: ".").dropLast().joined(separator: ".")) + ".weight_scale_2",
        String(t.name.split(separator: ".").dropLast().joined(separator: ".")) + ".pre_quant_scale", "weight_scale", "input_scale",
      ])
      if tensors.contains(where: { $0.name == t.name }) { return what + "rename skipped" }
      what += "renamed \(t.name)"
    default:
      // A scale tensor with a different element count.
      let n = pick([0, 1, 2, 3, 17])
      t.shape = [n]
      t.bytes = [UInt8](repeating: 0x3F, count: n * t.dtype.byteSize)
      what += "shape [\(n)]"
    }
    tensors[k] = t
    try SafeTensors.write(tensors, metadata: file.metadata, to: url)
    return what
  }

  /// Uses what a mutated checkpoint gave: the state dict, a load into a fresh model, and a
  /// forward pass through every quantized layer.
  static func exercise(_ contents: UnifiedCheckpointContents, kind: String) throws {
    _ = contents.stateDict()
    _ = contents.stateDict(foldingPreQuantScale: false)
    for l in contents.layers { _ = l.inputAmax }
    let model = kind == "nvfp4" || kind == "mxfp4" ? UnifiedModelOptTests.small() : UnifiedModelOptTests.big()
    guard (try? contents.load(into: model)) != nil else { return }
    var rng = RandomGenerator(seed: 4)
    for (path, m) in model.namedModules() {
      guard let linear = m as? Linear, contents.layers.contains(where: { $0.path == path }) else { continue }
      let x = Tensor.randn([2, linear.inFeatures], using: &rng)
      _ = try? Tensor.withoutGrad { try linear.checkedForward(x) }
    }
  }

  @Test func mutatedCheckpointDirectoriesNeverTrap() throws {
    let cases = Self.environment("QATKIT_READER_FUZZ_CASES", default: 2000) / 25
    var rng = RandomGenerator(seed: UInt64(Self.environment("QATKIT_FUZZ_SEED", default: 10)) &+ 202)
    var read = 0
    for c in 0..<cases {
      let kind = Self.kinds[c % Self.kinds.count]
      let dir = try Self.copy(kind)
      defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
      var log: [String] = []
      for _ in 0..<(1 + rng.nextInt(below: 2)) { log.append(try Self.mutateCheckpoint(dir, &rng)) }
      let contents: UnifiedCheckpointContents
      do { contents = try UnifiedCheckpoint.read(dir) } catch {
        #expect(error is ExportError, "\(kind) \(log): \(type(of: error)) \(error)")
        continue
      }
      read += 1
      try Self.exercise(contents, kind: kind)
    }
    #expect(cases < 20 || read > 0)
  }

  // MARK: Regressions (each trapped before its fix)

  /// Rewrites the weights with `edit` applied to the tensor list.
  static func editWeights(_ dir: URL, _ edit: (inout [SafeTensors.Tensor]) -> Void) throws {
    let url = dir.appendingPathComponent("model.safetensors")
    let file = try SafeTensorsFile(contentsOf: url)
    var tensors: [SafeTensors.Tensor] = try file.names.map { n in
      let i = try file.info(n)
      return (n, i.dtype, i.shape, try file.rawBytes(n))
    }
    edit(&tensors)
    try SafeTensors.write(tensors, metadata: file.metadata, to: url)
  }

  static func expectMalformed(_ dir: URL, _ needle: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(sourceLocation: sourceLocation) { try UnifiedCheckpoint.read(dir) } throws: { e in
      guard case ExportError.malformed = e else { return false }
      return "\(e)".contains(needle)
    }
  }

  /// `group_size: 1e300` trapped converting to `Int`.
  @Test func groupSizeBeyondIntIsAnError() throws {
    let dir = try Self.copy("int4_awq")
    try Self.editJSON(dir.appendingPathComponent("hf_quant_config.json")) {
      $0 = Self.setting($0, ["quantization", "group_size"], .number(1e300))
    }
    Self.expectMalformed(dir, "group_size")
  }

  /// An INT4 weight of shape `[2^62, 0]` (no bytes, so the safetensors reader accepts it)
  /// overflowed doubling the packed rows.
  @Test func emptyQuantizedWeightWithAHugeDimensionIsAnError() throws {
    let dir = try Self.copy("int4_awq")
    try Self.editWeights(dir) { tensors in
      let i = tensors.firstIndex { $0.name == "encoder.layer.0.output.dense.weight" }!
      tensors[i].shape = [1 << 62, 0]
      tensors[i].bytes = []
    }
    Self.expectMalformed(dir, "cannot be empty")
  }

  /// A 1-D FP8 weight with a `pre_quant_scale` read, then divided by zero folding the scale
  /// into the weight (`stateDict()`).
  @Test func preQuantScaleOnAOneDimensionalWeightIsAnError() throws {
    let dir = try Self.copy("fp8")
    try Self.editWeights(dir) { tensors in
      let i = tensors.firstIndex { $0.name == "encoder.layer.0.attention.self.query.weight" }!
      let n = tensors[i].shape.reduce(1, *)
      tensors[i].shape = [n]
      tensors.append(("encoder.layer.0.attention.self.query.pre_quant_scale", .f32, [n], [UInt8](repeating: 0x3F, count: 4 * n)))
    }
    Self.expectMalformed(dir, "pre_quant_scale")
  }
}
