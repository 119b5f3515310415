import Foundation
import QATKit
import QATPlugins
import QATRegistry
import Testing

/// Semantic fuzzing of checkpoint metadata (issue 10, "keep it true"): real checkpoints of six
/// recipes (INT8, NVFP4, MXFP4, W4A8 in blocks, LSQ, PACT) get their mode list, quantizer
/// records, attributes, state shapes, formats, axes, block sizes, algorithms and tensors changed
/// the way a hostile or careless user would, one to three edits at a time; each file is
/// restored onto a fresh model. A rejected restore must be a thrown error that leaves the model
/// exactly as it was; a file that restores must run a checked forward pass on several batch
/// shapes without trapping, and where that pass succeeds the plain forward and the backward pass
/// run too. The byte-level fuzz test (`CheckpointTests`) covers the reader below this.
///
/// Seeded: `QATKIT_FUZZ_SEED` (default 10) and `QATKIT_FUZZ_CASES` (default 2000; e.g. 50000 for
/// a long run) select the cases, and a failure names its case number and edits.
@Suite struct SemanticFuzzTests {
  static let sizes = [32, 32, 16]

  static func environment(_ name: String, default value: Int) -> Int {
    ProcessInfo.processInfo.environment[name].flatMap { Int($0) } ?? value
  }

  /// The source recipes.
  static func recipes() -> [(String, QuantizeConfig)] {
    var lsq = QuantizerAttributes.int(4, calibrator: "mse")
    lsq.algorithm = "lsq"
    var lsqWeights = QuantizerAttributes.int(3, axis: 0)
    lsqWeights.algorithm = "lsq"
    var pact = QuantizerAttributes.int(4)
    pact.algorithm = "pact"
    var int8 = QuantizeConfig(preset: .int8)
    int8.quantCfg.append(.init("fc2.output_quantizer", cfg: .int(8, axis: -1)))
    var dynamicOut = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0, calibrator: "percentile"), activations: pact)
    dynamicOut.quantCfg.append(.init("*output_quantizer", cfg: .int(8, blockSize: 16, dynamic: true)))
    return [
      ("int8", int8),
      ("nvfp4", QuantizeConfig(preset: .nvfp4)),
      ("mxfp4", QuantizeConfig.weightsAndActivations(weights: QuantizerAttributes(format: .mxfp4), activations: QuantizerAttributes(format: .mxfp4))),
      ("w4a8-blocks", .w4a8(blockSize: 16)),
      ("lsq", .weightsAndActivations(weights: lsqWeights, activations: lsq)),
      ("pact-dynamic-out", dynamicOut),
    ]
  }

  /// One source checkpoint per recipe, calibrated on random data.
  static func sources() throws -> [(String, URL)] {
    var rng = RandomGenerator(seed: 77)
    let calibration = (0..<2).map { _ in Tensor.randn([8, 32], using: &rng) }
    return try recipes().map { name, config in
      let m = MLP(sizes, seed: 3)
      try convert(m, modes: [.quantize(config)], registry: InTreePlugins.registry,
                  forwardLoop: { m in for x in calibration { _ = m(x) } })
      let url = tempURL("fuzz-source-\(name).safetensors")
      try save(m, to: url, registry: InTreePlugins.registry)
      return (name, url)
    }
  }

  // MARK: Mutation pools

  static let slotPaths = [
    "fc1.input_quantizer", "fc1.weight_quantizer", "fc1.output_quantizer", "fc2.input_quantizer",
    "fc2.weight_quantizer", "fc2.output_quantizer", "fc3.input_quantizer", "fc1.bias_quantizer", "fc1", "",
  ]
  static var attributeValues: [String: [Any]] { [
    "format": ["int8", "int4", "uint8", "int2", "uint3", "int0", "int1", "int9", "int64", "uint64", "int-3", "e4m3", "e5m2",
               "nvfp4", "mxfp4", "mxfp8", "fp16", "", 5, NSNull()],
    "axis": [0, 1, -1, -2, 2, 5, -7, 1e300, 2.5, "0", NSNull(), true],
    "blockSize": [NSNull(), 0, -1, 1, 2, 7, 8, 16, 32, 64, 1 << 40, 1e300, -1e300, "16"],
    "dynamic": [true, false, 0, "yes", NSNull()],
    "enable": [true, false, NSNull()],
    "narrowRange": [true, false],
    "passThroughSTE": [true, false],
    "calibrator": ["max", "percentile", "mse", "entropy", "maxx", ""],
    "calibratorOptions": [[String: Any](), ["bins": 2e9], ["bins": 8], ["percentile": 120], "x", NSNull()],
    "algorithm": ["static", "lsq", "pact", "lsqq", ""],
    "algorithmOptions": [NSNull(), ["gradScale": false], ["bogus": 1], 3],
    "surprise": [1, "x"],
  ] }
  static var stateShapes: [Any] { [
    [Int](), [1], [-1], [0], [1 << 40], [1 << 32, 1 << 32], [Int.max, 2], [32, 1], [16, 1], [1, 32], [1, 16], [32], [16], [2],
    [1, 1], [2, 16], [32, 2], [1, 1, 32], [1, 2], "big", [1.5], NSNull(),
  ] }
  static let stateValues: [Float] = [0.5, 0, -1, Float(1e-40 as Double), 3e38, .infinity, -.infinity, .nan, 1e-8]

  /// Applies one random semantic edit.
  static func mutate(_ c: inout EditableCheckpoint, _ rng: inout RandomGenerator, log: inout [String]) {
    func pick<T>(_ a: [T]) -> T { a[rng.nextInt(below: a.count)] }
    let records = (((c.modes.first?["metadata"] as? [String: Any])?["quantizers"]) as? [String: Any]).map { Array($0.keys).sorted() } ?? []
    let path = records.isEmpty || rng.nextInt(below: 8) == 0 ? pick(slotPaths) : pick(records)
    switch rng.nextInt(below: 13) {
    case 0...3:
      let key = pick(Array(attributeValues.keys).sorted())
      let value = pick(attributeValues[key]!)
      log.append("\(path).attributes.\(key) = \(value)")
      c.setAttribute(path, key, value)
    case 4...6:
      let shape = pick(stateShapes)
      let tensorToo = rng.nextInt(below: 2) == 0
      let fill = pick(stateValues)
      log.append("\(path).state._amax = \(shape)\(tensorToo ? " (file too, \(fill))" : "")")
      c.setState(path, "_amax", shape, tensorToo: tensorToo, fill: fill)
    case 7:
      switch rng.nextInt(below: 3) {
      case 0:
        log.append("\(path).state = {}")
        c.setState(path, "_amax", nil)
      case 1:
        log.append("\(path).state._scale = [1]")
        c.setState(path, "_scale", [1], tensorToo: rng.nextInt(below: 2) == 0)
      default:
        log.append("\(path).state = 7")
        if var r = c.record(path) { r["state"] = 7; c.setRecord(path, r) }
      }
    case 8:
      let target = pick(slotPaths)
      switch rng.nextInt(below: 3) {
      case 0:
        log.append("delete record \(path)")
        c.setRecord(path, nil)
      case 1:
        log.append("copy record \(path) to \(target)")
        c.setRecord(target, c.record(path))
      default:
        log.append("move record \(path) to \(target)")
        let r = c.record(path)
        c.setRecord(path, nil)
        c.setRecord(target, r)
      }
    case 9:
      guard !c.modes.isEmpty else { return }
      switch rng.nextInt(below: 6) {
      case 0:
        let name = pick(["quantiz", "kd_loss", "export_student", "Quantize", ""])
        log.append("mode name = \(name)")
        c.modes[0]["name"] = name
      case 1:
        log.append("mode plugin = Nope")
        c.modes[0]["plugin"] = "Nope"
      case 2:
        log.append("modes duplicated")
        c.modes.append(c.modes[0])
      case 3:
        log.append("modes emptied")
        c.modes = []
      case 4:
        let junk: Any = pick([NSNull(), 3, "x", [1, 2], ["quantizers": 5]])
        log.append("metadata = \(junk)")
        c.modes[0]["metadata"] = junk
      default:
        let cfg: Any = pick([["quantCfg": 1], ["quantCfg": [["quantizerName": "*", "cfg": ["format": "int64"]]]], ["quantCfg": []]])
        log.append("config = \(cfg)")
        c.modes[0]["config"] = cfg
      }
    case 10:
      let names = c.tensors.keys.sorted()
      guard !names.isEmpty else { return }
      let name = pick(names)
      if rng.nextInt(below: 2) == 0 {
        log.append("tensor \(name) removed")
        c.tensors[name] = nil
      } else {
        let shape = pick([[1], [2, 2], [32, 1], [1, 32], [16], [32, 33]])
        log.append("tensor \(name) reshaped to \(shape)")
        c.tensors[name] = (shape, [Float](repeating: 0.25, count: shape.reduce(1, *)))
      }
    case 11:
      let requires = pick(["[]", #"[{"kind": "quantizer", "name": "lsq", "plugin": "Nope"}]"#, "x", #"[{"kind": "mode"}]"#])
      log.append("requires = \(requires)")
      c.metadata["requires"] = requires
    default:
      let version = pick(["1", "2", "3", "-1", "x", "99999999999999999999"])
      log.append("format_version = \(version)")
      c.metadata["format_version"] = version
    }
  }

  @Test func mutatedMetadataNeverTrapsAndEveryRestoredFileRuns() throws {
    let cases = Self.environment("QATKIT_FUZZ_CASES", default: 2000)
    let seed = UInt64(Self.environment("QATKIT_FUZZ_SEED", default: 10))
    let sources = try Self.sources()
    let originals = try sources.map { try EditableCheckpoint($0.1) }
    let file = tempURL("fuzz-case.safetensors")
    var rng = RandomGenerator(seed: seed)
    var probe = RandomGenerator(seed: 1)
    let batches = [
      Tensor.randn([1, 32], using: &probe), Tensor.randn([3, 32], using: &probe), Tensor.randn([8, 32], using: &probe),
      Tensor.randn([2, 3, 32], using: &probe),
    ]
    // Every case restores onto the same freshly built model; its outputs before any restore.
    let before = Tensor.withoutGrad { MLP(Self.sizes, seed: 11)(batches[1]) }.scalars
    var restored = 0, rejected = 0, forwarded = 0, refused = 0
    for i in 0..<cases {
      let source = rng.nextInt(below: sources.count)
      var c = originals[source]
      var log: [String] = []
      for _ in 0..<(1 + rng.nextInt(below: 3)) { Self.mutate(&c, &rng, log: &log) }
      let what = "case \(i) (seed \(seed), source \(sources[source].0)): \(log.joined(separator: "; "))"
      do { try c.write(to: file) } catch {
        continue  // the writer refused the edited tensors (e.g. a shape that does not fit its data)
      }
      let model = MLP(Self.sizes, seed: 11)
      let restoredModel: Module
      do {
        restoredModel = try restore(model, from: file, registry: InTreePlugins.registry)
      } catch {
        rejected += 1
        let after = Tensor.withoutGrad { model(batches[1]) }.scalars
        #expect(after.map(\.bitPattern) == before.map(\.bitPattern), "a rejected restore changed the model: \(what)")
        #expect(model.namedQuantizers().isEmpty && model.modeHistory.isEmpty, "\(what)")
        continue
      }
      restored += 1
      for x in batches {
        let input = Tensor(shape: x.shape, storage: x.storage, requiresGrad: true)
        do {
          let y = try restoredModel.checkedForward(input)
          forwarded += 1
          y.sum().backward()
          #expect(input.grad?.shape == x.shape, "\(what)")
          // The plain forward takes what the checked one accepted.
          _ = Tensor.withoutGrad { restoredModel(x) }
        } catch QuantizerError.incompatibleInput {
          refused += 1
        } catch ModuleError.incompatibleInput {
          refused += 1
        } catch {
          Issue.record("unexpected error from checkedForward: \(error): \(what)")
        }
      }
    }
    print("semantic fuzz: \(cases) cases, \(restored) restored (\(forwarded) forward+backward passes, \(refused) batches refused), \(rejected) rejected")
    #expect(rejected > cases / 4)
    #expect(restored > cases / 20)
    #expect(forwarded > restored)
  }
}
