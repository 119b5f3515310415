import Foundation
import QATTestSupport
import Testing
@testable import QATKit

/// Issue 10's rule for the bring-your-own inputs: nothing an architecture file or a CSV data
/// set holds may trap or hang. Seeded semantic mutations of the examples' files
/// (`Examples/byo`: the CNN and GELU MLP architectures, a transformer, iris.csv): every mutated
/// file either parses and then builds, runs a checked forward pass, a forward and a backward
/// pass (architectures) or trains and evaluates a small model (data sets), or throws.
///
/// Seeded: `QATKIT_FUZZ_SEED` (default 10); `QATKIT_INPUT_FUZZ_CASES` (default 1000 architectures
/// and 500 data sets; e.g. 20000 for a long run).
@Suite struct InputFuzzTests {
  static func environment(_ name: String, default value: Int) -> Int {
    ProcessInfo.processInfo.environment[name].flatMap(Int.init) ?? value
  }

  static let hostileNumbers: [Double] = [
    0, -1, 1, 2, 3, 5, 7, 64, 1e6, 4294967296, 4.611686018427388e18, 9.3e18, 1e300, -9.2e18, 0.5, -0.0,
  ]

  // MARK: Architectures

  static let transformer = """
    {"input_shape": [6], "layers": [
      {"type": "Embedding", "num_embeddings": 20, "embedding_dim": 8},
      {"type": "TransformerEncoderBlock", "dim": 8, "heads": 2, "hidden": 16},
      {"type": "MultiHeadAttention", "embed_dim": 8, "num_heads": 2},
      {"type": "Residual", "layers": [{"type": "Linear", "in_features": 8, "out_features": 8}, {"type": "Tanh"}]},
      {"type": "Mean", "dim": 1},
      {"type": "BatchNorm1d", "num_features": 8},
      {"type": "Dropout", "p": 0.1},
      {"type": "Linear", "in_features": 8, "out_features": 3}]}
    """

  static func architectureSources() throws -> [String] {
    try ["byo/cnn_seq_digits.json", "byo/gelu_mlp_digits.json"].map {
      String(decoding: try Data(contentsOf: Examples.url($0)), as: UTF8.self)
    } + [transformer]
  }

  /// Every path to a number, a string or an object member in `json`.
  static func paths(_ json: JSONValue, _ prefix: [String] = []) -> [[String]] {
    switch json {
    case .object(let o): return [prefix] + o.keys.sorted().flatMap { paths(o[$0]!, prefix + [$0]) }
    case .array(let a): return [prefix] + a.indices.flatMap { paths(a[$0], prefix + [String($0)]) }
    default: return [prefix]
    }
  }

  static func get(_ json: JSONValue, _ path: ArraySlice<String>) -> JSONValue? {
    guard let k = path.first else { return json }
    switch json {
    case .object(let o): return o[k].flatMap { get($0, path.dropFirst()) }
    case .array(let a): return Int(k).flatMap { a.indices.contains($0) ? get(a[$0], path.dropFirst()) : nil }
    default: return nil
    }
  }

  /// `json` with the value at `path` replaced (`nil` removes it).
  static func set(_ json: JSONValue, _ path: ArraySlice<String>, _ value: JSONValue?) -> JSONValue {
    guard let k = path.first else { return value ?? .null }
    switch json {
    case .object(var o):
      if path.count == 1 && value == nil { o[k] = nil } else { o[k] = set(o[k] ?? .null, path.dropFirst(), value) }
      return .object(o)
    case .array(var a):
      guard let i = Int(k), a.indices.contains(i) else { return json }
      if path.count == 1 && value == nil { a.remove(at: i) } else { a[i] = set(a[i], path.dropFirst(), value) }
      return .array(a)
    default: return json
    }
  }

  static func mutateArchitecture(_ json: inout JSONValue, _ rng: inout RandomGenerator) -> String {
    func pick<T>(_ a: [T]) -> T { a[rng.nextInt(below: a.count)] }
    let all = paths(json).filter { !$0.isEmpty }
    guard !all.isEmpty else { return "nothing left to mutate" }
    let path = pick(all)
    let old = get(json, path[...])
    switch rng.nextInt(below: 8) {
    case 0, 1, 2:
      // A number anywhere (sizes, kernel, padding, stride, eps, p, dim, input_shape entries).
      let numbers = all.filter { if case .number? = get(json, $0[...]) { true } else { false } }
      guard let p = numbers.isEmpty ? nil : pick(numbers) else { return "no number" }
      let v = pick(hostileNumbers)
      json = set(json, p[...], .number(v))
      return "\(p.joined(separator: ".")) = \(v)"
    case 3:
      let types = all.filter { $0.last == "type" }
      guard !types.isEmpty else { return "no type" }
      let p = pick(types)
      let t = pick(Architecture.layerTypes + ["nn.Linear", "Bogus"])
      json = set(json, p[...], .string(t))
      return "\(p.joined(separator: ".")) = \(t)"
    case 4:
      json = set(json, path[...], nil)
      return "removed \(path.joined(separator: "."))"
    case 5:
      // Wrap a layer in Sequential / Residual, or duplicate it.
      guard let layer = old, case .object(let o) = layer, o["type"] != nil else { return "not a layer" }
      let wrapped: JSONValue = pick([
        .object(["type": .string("Sequential"), "layers": .array([layer])]),
        .object(["type": .string("Residual"), "layers": .array([layer])]),
        .object(["type": .string("Sequential"), "layers": .array([layer, layer])]),
      ])
      json = set(json, path[...], wrapped)
      return "wrapped \(path.joined(separator: "."))"
    case 6:
      let v: JSONValue = pick([.array([]), .array([.number(0)]), .array([.number(1), .number(1e9), .number(1e9)]), .string("x"), .null, .bool(true), .number(-1)])
      json = set(json, path[...], v)
      return "\(path.joined(separator: ".")) = \(v.text)"
    default:
      let v: JSONValue = pick([
        .array([.number(64)]), .array([.number(1), .number(8), .number(8)]), .array([.number(3), .number(1_048_576), .number(1_048_576)]),
        .array([.number(6), .number(8)]), .array([.number(1e12)]), .array([.number(0)]),
      ])
      json = set(json, ["input_shape"], v)
      return "input_shape = \(v.text)"
    }
  }

  /// The element count of a shape, or nil past 2^40.
  static func elements(_ shape: [Int]) -> Int? {
    var n = 1
    for d in shape {
      let (p, o) = n.multipliedReportingOverflow(by: d)
      if o || p > 1 << 40 { return nil }
      n = p
    }
    return n
  }

  /// Builds, then runs what a user would run on an architecture that parsed.
  static func exercise(_ arch: Architecture) throws {
    guard let input = arch.inputShape else { return }
    guard let out = try? arch.outputShape(forSample: input) else {
      #expect(throws: ConfigError.self) { try arch.build(seed: 1) }
      return
    }
    // Keep the debug build fast: the size limits have their own tests (ArchitectureLimitsTests).
    guard let params = arch.parameterCount, params <= 1 << 22 else { return }
    for k in 1...arch.layers.count {
      let prefix = Architecture(layers: Array(arch.layers.prefix(k)), inputShape: input)
      guard let s = try? prefix.outputShape(forSample: input), let n = elements(s), n <= 1 << 16 else { return }
    }
    guard let n = elements(out), n <= 1 << 16, let inCount = elements(input), inCount <= 1 << 16 else { return }
    let model = try arch.build(seed: 1)
    var rng = RandomGenerator(seed: 3)
    var x = Tensor.randn([2] + input, using: &rng)
    if case .embedding(let vocab, _)? = arch.firstLayer {
      x = Tensor(shape: x.shape, storage: x.scalars.map { Float(Int(abs($0) * 7) % vocab) })
    }
    model.eval()
    guard (try? Tensor.withoutGrad({ try model.checkedForward(x) })) != nil else { return }
    model.train()
    let y = model(x)
    #expect(y.shape == [2] + out)
    y.sum().backward()
  }

  @Test func mutatedArchitecturesNeverTrap() throws {
    let sources = try Self.architectureSources().map { try JSONValue(parsing: $0) }
    let cases = Self.environment("QATKIT_INPUT_FUZZ_CASES", default: 1000)
    var rng = RandomGenerator(seed: UInt64(Self.environment("QATKIT_FUZZ_SEED", default: 10)) &+ 303)
    var built = 0
    for c in 0..<cases {
      var json = sources[c % sources.count]
      var log: [String] = []
      for _ in 0..<(1 + rng.nextInt(below: 3)) { log.append(Self.mutateArchitecture(&json, &rng)) }
      let arch: Architecture
      do { arch = try Architecture(json: json) } catch {
        #expect(error is ConfigError, "\(log): \(error)")
        continue
      }
      built += 1
      try Self.exercise(arch)
    }
    #expect(cases < 50 || built > 0)
  }

  // MARK: CSV data sets

  static func mutateCSV(_ lines: inout [String], _ rng: inout RandomGenerator) -> String {
    func pick<T>(_ a: [T]) -> T { a[rng.nextInt(below: a.count)] }
    let row = rng.nextInt(below: lines.count)
    var fields = lines[row].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    let col = rng.nextInt(below: max(fields.count, 1))
    switch rng.nextInt(below: 7) {
    case 0, 1:
      // A value: huge, non-finite, empty, text, an integer label beyond any class count.
      let v = pick([
        "1e39", "-1e39", "nan", "inf", "", " ", "x", "\"", "\"a,b\"", "1e-45", "99999999999999999999", "9223372036854775807",
        "-9223372036854775808", "-1", "12", "0x10", "1_000", "٣", "1e18", "4.5",
      ])
      if fields.isEmpty { fields = [v] } else { fields[col] = v }
      lines[row] = fields.joined(separator: ",")
      return "line \(row + 1) field \(col) = \(v)"
    case 2:
      lines[row] += pick([",", ",1", "\"", ",\"open", "\r"])
      return "line \(row + 1) extended"
    case 3:
      if !fields.isEmpty { fields.remove(at: col) }
      lines[row] = fields.joined(separator: ",")
      return "line \(row + 1) lost field \(col)"
    case 4:
      lines.insert(pick(["", ",,,,", "\"\"\"", String(repeating: "1,", count: 5000)]), at: row)
      return "inserted a line at \(row + 1)"
    case 5:
      // Every label integer (a few large), so the class count comes from the labels.
      let big = pick(["3", "12", "1000", "16777216", "1000000000000"])
      for i in 1..<lines.count {
        var f = lines[i].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if !f.isEmpty { f[f.count - 1] = i == 1 ? big : String(i % 3) }
        lines[i] = f.joined(separator: ",")
      }
      return "integer labels, one \(big)"
    default:
      lines = Array(lines.prefix(row))
      return "truncated to \(row) lines"
    }
  }

  @Test func mutatedCSVDataSetsNeverTrap() throws {
    let text = String(decoding: try Data(contentsOf: Examples.url("byo/iris.csv")), as: UTF8.self)
    // A few rows of each class keep the debug build fast.
    let all = text.split(separator: "\n").map(String.init)
    let base = [all[0]] + stride(from: 1, to: all.count, by: 10).map { all[$0] }
    let cases = Self.environment("QATKIT_INPUT_FUZZ_CASES", default: 1000) / 2
    var rng = RandomGenerator(seed: UInt64(Self.environment("QATKIT_FUZZ_SEED", default: 10)) &+ 404)
    var trained = 0
    for _ in 0..<cases {
      var lines = base
      var log: [String] = []
      for _ in 0..<(1 + rng.nextInt(below: 3)) where !lines.isEmpty { log.append(Self.mutateCSV(&lines, &rng)) }
      let data: Dataset
      do { data = try Dataset(csv: lines.joined(separator: "\n"), labelColumn: "species") } catch {
        #expect(error is DataError, "\(log): \(error)")
        continue
      }
      // A model sized from the data, as the command line sizes it; the class count is bounded.
      #expect(data.classCount <= Dataset.maxClassCount)
      let classes = min(max(data.classCount, 1), 64)
      let model = MLP([data.featureCount, 4, classes], seed: 1)
      do {
        try Training.fit(model, data: data, epochs: 1, batchSize: 8, optimizer: SGD(model.parameters(), learningRate: 0.1)) {
          Loss.crossEntropy(model($0), $1)
        }
        _ = try Training.accuracy(model, on: data)
        trained += 1
      } catch {
        #expect(error is DataError || error is ModuleError, "\(log): \(error)")
      }
    }
    #expect(cases < 50 || trained > 0)
  }

  // MARK: Regressions (each trapped or hung before its fix)

  /// `"padding": 1e6` on an 8×8 input asked for a 2·10^6-square activation at the first batch;
  /// 2^40 asked for more elements than `Int` holds.
  @Test func hugeActivationsAreConfigErrors() throws {
    for padding in ["1000000", "1099511627776"] {
      let arch = try Architecture(json: try JSONValue(parsing: """
        {"input_shape": [1, 8, 8], "layers": [{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": \(padding)}]}
        """))
      #expect { try arch.build() } throws: { e in
        guard let c = e as? ConfigError else { return false }
        return "\(c)".contains("layers[0]")
      }
    }
    let wide = try Architecture(json: try JSONValue(parsing: #"{"input_shape": [1099511627776, 1099511627776], "layers": [{"type": "Flatten"}]}"#))
    #expect(throws: ConfigError.self) { try wide.outputShape(forSample: wide.inputShape!) }
  }

  /// A reshape whose known dimensions overflow `Int` trapped.
  @Test func reshapeWithOverflowingDimensionsIsAConfigError() throws {
    let arch = try Architecture(json: try JSONValue(parsing: #"{"input_shape": [4], "layers": [{"type": "Reshape", "shape": [1099511627776, 1099511627776, -1]}]}"#))
    #expect(throws: ConfigError.self) { try arch.build() }
    #expect(Reshape([1 << 40, 1 << 40, -1]).sampleShape(forCount: 4) == nil)
  }

  /// A CSV label of `9223372036854775807` overflowed `classCount` (largest label + 1);
  /// `1e12` would size a model with 10^12 outputs.
  @Test func classIndicesAreBounded() throws {
    for label in ["9223372036854775807", "1000000000000", "16777216"] {
      #expect(throws: DataError.self) { try Dataset(csv: "a,label\n1,0\n2,\(label)\n") }
    }
    #expect(try Dataset(csv: "a,label\n1,0\n2,16777215\n").classCount == 1 << 24)
  }

  /// ModelOpt-style quantize configs (recipes, `--config`): numbers beyond `Int` trapped
  /// converting (`axis: 9.3e18` was found by `CommandLineFuzzTests`), and a step size of
  /// 1e-300 asked for more mse candidates than `Int` holds.
  @Test func modelOptConfigNumbersBeyondIntAreConfigErrors() throws {
    let cfgs = [
      #"{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8, "axis": 9.3e18}}]}"#,
      #"{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 1e300}}]}"#,
      #"{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": [1e300, 1]}}]}"#,
      #"{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bits": 8}}], "algorithm": {"method": "mse", "step_size": 1e-300}}"#,
    ]
    for text in cfgs {
      #expect(throws: ConfigError.self, "\(text)") {
        let config = try ModelOptConfig(json: JSONValue(parsing: text))
        _ = try config.quantizeConfig(for: MLP([4, 3, 2]))
      }
    }
  }
}
