import Foundation
import QATKit
import Testing
@testable import QATRegistry

@Suite struct CheckpointTests {
  @Test func saveRestoreRoundTripIsBitIdentical() throws {
    let r = try testRegistry()
    let m = MLP([4, 6, 3], seed: 3)
    try convert(m, modes: [.mode(ScaleMode.self, .init(factor: 1.5))], registry: r)
    let url = tempURL("scaled.safetensors")
    try save(m, to: url, registry: r)
    let fresh = MLP([4, 6, 3], seed: 99)
    try restore(fresh, from: url, registry: r)
    #expect(outputs(fresh) == outputs(m))
    #expect(fresh.modeHistory == m.modeHistory)
    let summary = try inspectCheckpoint(at: url)
    #expect(summary.formatVersion == CheckpointFormat.currentVersion)
    #expect(summary.modes.map(\.name) == ["test_scale"])
    #expect(summary.modes[0].plugin == "TestPlugin")
    #expect(summary.description.contains("test_scale [TestPlugin]"))
  }

  /// A weight quantizer that a rule switched off before calibration has no range; the
  /// checkpoint restores (BERT's disabled embedding quantizers), while a disabled quantizer
  /// that has a range must still have the right shape.
  @Test func disabledWeightQuantizerWithoutARangeRestores() throws {
    let m = MLP([4, 6, 3], seed: 3)
    let config = QuantizeConfig.weightsAndActivations(weights: .int(4, blockSize: 2), activations: nil)
      .setting("fc2.weight_quantizer", enabled: false)
    var rng = RandomGenerator(seed: 1)
    let x = Tensor.randn([5, 4], using: &rng)
    try convert(m, modes: [.quantize(config)], registry: .builtin, forwardLoop: { _ = $0(x) })
    #expect(m.layers[1].quantizer(slot: "weight_quantizer")?.stateTensors().isEmpty == true)
    let url = tempURL("disabled.safetensors")
    try save(m, to: url, registry: .builtin)
    let fresh = MLP([4, 6, 3], seed: 99)
    try restore(fresh, from: url, registry: .builtin)
    #expect(outputs(fresh) == outputs(m))
  }

  @Test func plainSafetensorsFromPyTorchRestoresAsVersion0() throws {
    let m = MLP([64, 256, 256, 10])
    try restore(m, from: fixtures().appendingPathComponent("mlp_digits_fp32.safetensors"))
    let (_, test) = try Digits.load()
    #expect(try Training.accuracy(m, on: test) > 0.97)
    #expect(try inspectCheckpoint(at: fixtures().appendingPathComponent("mlp_digits_fp32.safetensors")).formatVersion == 0)
  }

  /// PyTorch's `safetensors.torch.save_file` writes `{"format": "pt"}`: a plain state dict.
  @Test func stateDictWithPyTorchFormatMetadataReadsAsVersion0() throws {
    let source = MLP([4, 6, 3], seed: 11)
    let url = tempURL("pt.safetensors")
    try source.saveSafeTensors(to: url, metadata: ["format": "pt"])
    let fresh = MLP([4, 6, 3], seed: 12)
    try restore(fresh, from: url)
    #expect(outputs(fresh) == outputs(source))
    let summary = try inspectCheckpoint(at: url)
    #expect(summary.formatVersion == 0)
    #expect(summary.modes.isEmpty)
    #expect(summary.producer.contains("'pt'"))
    // Another format name that carries this format's keys is damaged, not plain.
    let odd = tempURL("odd.safetensors")
    try source.saveSafeTensors(to: odd, metadata: ["format": "pt", "format_version": "2"])
    #expect { try inspectCheckpoint(at: odd) } throws: { "\($0)".contains("format_version") }
  }

  @Test func extraMetadataIsStoredAndReservedKeysAreRefused() throws {
    let m = MLP([4, 6, 3], seed: 2)
    let url = tempURL("extra.safetensors")
    try save(m, to: url, metadata: ["tool.architecture": "{}"])
    #expect(try SafeTensorsFile(contentsOf: url).metadata["tool.architecture"] == "{}")
    try restore(MLP([4, 6, 3]), from: url)
    #expect { try save(m, to: tempURL("bad.safetensors"), metadata: ["modes": "[]"]) } throws: { "\($0)".contains("reserved") }
  }

  @Test func missingPluginIsNamed() throws {
    let r = try testRegistry()
    let m = MLP([4, 6, 3])
    try convert(m, modes: [.mode(ScaleMode.self, .init(factor: 1.5))], registry: r)
    let url = tempURL("plugin.safetensors")
    try save(m, to: url, registry: r)
    #expect {
      try restore(MLP([4, 6, 3]), from: url, registry: .builtin)
    } throws: { e in
      guard case RegistryError.missingPlugin(let kind, let name, let plugin) = e else { return false }
      return kind == .mode && name == "test_scale" && plugin == "TestPlugin"
        && "\(e)".contains("the checkpoint needs the mode 'test_scale' from plugin 'TestPlugin'")
    }
  }

  @Test func otherArchitectureIsRejectedAndModelUnchanged() throws {
    let r = try testRegistry()
    let m = MLP([4, 6, 3])
    try convert(m, modes: [.mode(ScaleMode.self, .init(factor: 1.5))], registry: r)
    let url = tempURL("arch.safetensors")
    try save(m, to: url, registry: r)
    let other = MLP([4, 7, 3])
    let before = outputs(other)
    #expect {
      try restore(other, from: url, registry: r)
    } throws: { "\($0)".contains("mis-shaped") && "\($0)".contains("restoring onto MLP") }
    #expect(outputs(other) == before)
    #expect(other.namedQuantizers().isEmpty)
    #expect(other.modeHistory.isEmpty)
  }

  @Test func unknownVersionAndCorruptFilesAreRejected() throws {
    let url = tempURL("v9.safetensors")
    try SafeTensors.write(floats: [("fc1.weight", [1], [1])], metadata: ["format": CheckpointFormat.name, "format_version": "9", "modes": "[]"], to: url)
    #expect(throws: RegistryError.unsupportedFormat(found: 9, supported: CheckpointFormat.supported)) {
      try restore(MLP([1, 1]), from: url)
    }
    let bad = tempURL("bad.safetensors")
    try Data([1, 2, 3]).write(to: bad)
    #expect { try restore(MLP([1, 1]), from: bad) } throws: { "\($0)".contains("cannot read") }
    #expect { try restore(MLP([1, 1]), from: tempURL("absent.safetensors")) } throws: { "\($0)".contains("cannot read") }
  }

  @Test func version1MigratesRenamedKeys() throws {
    // A version-1 checkpoint: `mode_history` metadata and `.amax`-style quantizer keys.
    let r = try testRegistry()
    let m = MLP([4, 6, 3], seed: 5)
    try convert(m, modes: [.mode(ScaleMode.self, .init(factor: 2))], registry: r)
    let history = m.modeHistory.map { SavedModeV1(name: $0.name, config: $0.config, metadata: $0.metadata) }
    let v1 = tempURL("v1.safetensors")
    let tensors = m.stateDict().map { (name: $0.0.replacingOccurrences(of: "._scale", with: "._scale"), shape: $0.1.shape, values: $0.1.scalars) }
    let text = String(decoding: try JSONEncoder().encode(history), as: UTF8.self)
    try SafeTensors.write(floats: tensors, metadata: ["format": CheckpointFormat.name, "format_version": "1", "mode_history": text], to: v1)
    let fresh = MLP([4, 6, 3])
    try restore(fresh, from: v1, registry: r)
    #expect(outputs(fresh) == outputs(m))
    #expect(CheckpointHeader.migrateKey("fc1.weight_quantizer.amax", from: 1) == "fc1.weight_quantizer._amax")
    #expect(CheckpointHeader.migrateKey("block.attention.softmax_quantizer.amax", from: 1) == "block.attention.p_bmm_quantizer._amax")
    #expect(CheckpointHeader.migrateKey("fc1.weight_quantizer._amax", from: 2) == "fc1.weight_quantizer._amax")
  }

  @Test func saveIsAtomicOverAnExistingCheckpoint() throws {
    let r = try testRegistry()
    let m = MLP([4, 6, 3])
    let url = tempURL("atomic.safetensors")
    try save(m, to: url, registry: r)
    let good = try Data(contentsOf: url)
    // A history naming an unregistered mode fails before anything is written.
    try convert(m, modes: [.mode(ScaleMode.self, .init(factor: 2))], registry: r)
    #expect(throws: RegistryError.self) { try save(m, to: url, registry: .builtin) }
    #expect(try Data(contentsOf: url) == good)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
    #expect(leftovers == ["atomic.safetensors"])
  }

  @Test func fuzzedCheckpointsNeverCrash() throws {
    let r = try testRegistry()
    let m = MLP([4, 6, 3])
    try convert(m, modes: [.mode(ScaleMode.self, .init(factor: 1.25))], registry: r)
    let url = tempURL("fuzz-src.safetensors")
    try save(m, to: url, registry: r)
    let original = [UInt8](try Data(contentsOf: url))
    var rng = RandomGenerator(seed: 2026)
    var restored = 0, rejected = 0
    for i in 0..<150 {
      var bytes = original
      switch rng.nextInt(below: 4) {
      case 0: for _ in 0..<(1 + rng.nextInt(below: 4)) { bytes[rng.nextInt(below: bytes.count)] = UInt8(rng.nextInt(below: 256)) }
      case 1: bytes = Array(bytes.prefix(rng.nextInt(below: bytes.count)))
      case 2: bytes.insert(UInt8(rng.nextInt(below: 256)), at: rng.nextInt(below: bytes.count))
      default:
        // Mutate inside the JSON header, where structure lives.
        let headerEnd = min(bytes.count, 8 + Int(bytes[0]) + Int(bytes[1]) << 8)
        bytes[8 + rng.nextInt(below: max(1, headerEnd - 8))] = UInt8(rng.nextInt(below: 128))
      }
      let f = tempURL("fuzz-\(i).safetensors")
      try Data(bytes).write(to: f)
      let fresh = MLP([4, 6, 3])
      let before = outputs(fresh)
      do {
        try restore(fresh, from: f, registry: r)
        restored += 1
      } catch {
        rejected += 1
        #expect(outputs(fresh) == before, "a rejected restore changed the model (mutation \(i))")
      }
    }
    #expect(rejected > 0)
    #expect(restored + rejected == 150)
  }
}

struct SavedModeV1: Codable { var name: String; var config: JSONValue; var metadata: JSONValue }
