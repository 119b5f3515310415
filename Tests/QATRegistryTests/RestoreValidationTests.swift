import Foundation
import QATKit
import QATPlugins
import QATRegistry
import Testing

/// Issue 10, defect 1: `restore` validates every quantizer record of a checkpoint against the
/// model exactly as `convert` validates a config, and state shapes against the attributes and
/// the file's own tensors, before it allocates anything. Each edit below used to crash (in
/// `restore` or at the first forward pass) or to allocate terabytes.
@Suite struct RestoreValidationTests {
  static let sizes = [8, 16, 10]

  /// A real checkpoint: INT8 per-channel weights, per-tensor inputs, calibrated on data.
  static func source(activations: QuantizerAttributes = .int(8), algorithm: String = "static") throws -> URL {
    let m = MLP(sizes, seed: 1)
    var rng = RandomGenerator(seed: 2)
    let data = (0..<2).map { _ in Tensor.randn([6, 8], using: &rng) }
    var act = activations
    act.algorithm = algorithm
    let config = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0), activations: act)
    try convert(m, modes: [.quantize(config)], registry: InTreePlugins.registry,
                forwardLoop: { m in for x in data { _ = m(x) } })
    let url = tempURL("source.safetensors")
    try save(m, to: url, registry: InTreePlugins.registry)
    return url
  }

  /// Restores `edit`ed copy of `url` onto a fresh model: must throw and leave the model as it was.
  func expectRejected(
    _ url: URL, _ what: String, mentioning needle: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ edit: (inout EditableCheckpoint) -> Void
  ) throws {
    var c = try EditableCheckpoint(url)
    edit(&c)
    let edited = tempURL("edited.safetensors")
    try c.write(to: edited)
    let fresh = MLP(Self.sizes, seed: 5)
    let before = outputs8(fresh)
    do {
      try restore(fresh, from: edited, registry: InTreePlugins.registry)
      Issue.record("\(what): restored", sourceLocation: sourceLocation)
    } catch {
      if ProcessInfo.processInfo.environment["QATKIT_PRINT_ERRORS"] != nil { print("\(what): \(error)") }
      #expect("\(error)".contains(needle), "\(what): \(error)", sourceLocation: sourceLocation)
    }
    #expect(outputs8(fresh) == before, "\(what): a rejected restore changed the model", sourceLocation: sourceLocation)
    #expect(fresh.namedQuantizers().isEmpty, sourceLocation: sourceLocation)
  }

  func outputs8(_ m: Module) -> [Float] {
    var rng = RandomGenerator(seed: 7)
    return Tensor.withoutGrad { m(Tensor.randn([3, 8], using: &rng)) }.scalars
  }

  @Test func unchangedCheckpointRestores() throws {
    let url = try Self.source()
    let fresh = MLP(Self.sizes, seed: 5)
    try restore(fresh, from: url, registry: InTreePlugins.registry)
    #expect(fresh.namedQuantizers().count == 4)
  }

  /// A weight quantizer a config switches off before calibration (ModelOpt's default configs
  /// disable embedding tables) has no range: its checkpoint restores (it used to be rejected as
  /// "the record says none", so `qatkit-run export` and `embed --checkpoint` refused MiniLM's).
  @Test func disabledUncalibratedWeightQuantizerRestores() throws {
    let m = MLP(Self.sizes, seed: 1)
    var rng = RandomGenerator(seed: 2)
    let x = Tensor.randn([6, 8], using: &rng)
    let config = QuantizeConfig.weightsAndActivations(weights: .int(8, axis: 0), activations: .int(8)).setting("fc2.*", enabled: false)
    try convert(m, modes: [.quantize(config)], forwardLoop: { m in _ = m(x) })
    let url = tempURL("disabled.safetensors")
    try save(m, to: url)
    let fresh = MLP(Self.sizes, seed: 5)
    try restore(fresh, from: url)
    #expect(Tensor.withoutGrad { fresh(x) }.scalars == Tensor.withoutGrad { m(x) }.scalars)
    #expect(fresh.namedQuantizers().filter { $0.1.isEnabled }.count == 2)
  }

  @Test func stateShapesFromTheIssue() throws {
    let url = try Self.source()
    let w = "fc1.weight_quantizer"
    try expectRejected(url, "negative dimension", mentioning: "is not a tensor shape") { $0.setState(w, "_amax", [-1]) }
    try expectRejected(url, "2^40 elements", mentioning: "the checkpoint's tensor 'fc1.weight_quantizer._amax' is [16, 1]") { $0.setState(w, "_amax", [1 << 40]) }
    try expectRejected(url, "2^32 x 2^32 overflows", mentioning: "overflows") { $0.setState(w, "_amax", [1 << 32, 1 << 32]) }
    try expectRejected(url, "not a shape", mentioning: "wrong type") { $0.setState(w, "_amax", "big") }
    try expectRejected(url, "no state at all for a static range", mentioning: "the record says none") { $0.setState(w, "_amax", nil) }
    try expectRejected(url, "state a TensorQuantizer does not have", mentioning: "has no state '_scale'") { $0.setState(w, "_scale", [1], tensorToo: true) }
    // The file's tensor follows, so only the check against the layer can catch these.
    try expectRejected(url, "per-channel range with the input's channel count", mentioning: "the range has 8 entries") { $0.setState(w, "_amax", [8, 1], tensorToo: true) }
    try expectRejected(url, "per-channel range of rank 1", mentioning: "has shape [16, 1], the record says [16]") { $0.setState(w, "_amax", [16], tensorToo: true) }
    try expectRejected(url, "zero channels", mentioning: "at least 1") { $0.setState(w, "_amax", [0, 1], tensorToo: true) }
    try expectRejected(url, "per-tensor input with 9 values", mentioning: "one value per tensor") { $0.setState("fc1.input_quantizer", "_amax", [9], tensorToo: true) }
  }

  @Test func attributesFromTheIssue() throws {
    let url = try Self.source()
    let w = "fc1.weight_quantizer"
    try expectRejected(url, "axis 1 with axis-0 state", mentioning: "all dimensions but axis 1 must be 1") { $0.setAttribute(w, "axis", 1) }
    try expectRejected(url, "axis 5", mentioning: "'fc1.weight_quantizer.axis': axis 5 is out of range") { $0.setAttribute(w, "axis", 5) }
    try expectRejected(url, "blockSize 7", mentioning: "block size 7 does not divide") {
      $0.setAttribute(w, "axis", nil)
      $0.setAttribute(w, "blockSize", 7)
    }
    try expectRejected(url, "int64", mentioning: "integer width 64 bits") { $0.setAttribute(w, "format", "int64") }
    try expectRejected(url, "int1", mentioning: "integer width 1 bits") { $0.setAttribute(w, "format", "int1") }
    try expectRejected(url, "mxfp4 has no _amax", mentioning: "block size 32 does not divide the last dimension 8") {
      $0.setAttribute(w, "axis", nil)
      $0.setAttribute(w, "format", "mxfp4")
    }
    try expectRejected(url, "unknown algorithm", mentioning: "unknown algorithm 'lsqq'") { $0.setAttribute(w, "algorithm", "lsqq") }
    try expectRejected(url, "huge number", mentioning: "'quantizers.fc1.weight_quantizer.attributes.blockSize': 1e+300") { $0.setAttribute(w, "blockSize", 1e300) }
  }

  /// Activation records: checked against what the layer fixes and against the batch axis.
  @Test func activationRecords() throws {
    let url = try Self.source()
    let i = "fc1.input_quantizer"
    try expectRejected(url, "nvfp4 on the 10-wide output of fc2", mentioning: "'fc2.output_quantizer.blockSize': block size 16 does not divide the last dimension 10") {
      $0.setRecord("fc2.output_quantizer", ["attributes": ["format": "nvfp4", "dynamic": true], "state": [String: Any]()])
    }
    try expectRejected(url, "static axis 0 (batch axis)", mentioning: "batch axis") {
      $0.setAttribute(i, "axis", 0)
      $0.setState(i, "_amax", [6, 1], tensorToo: true)
    }
    try expectRejected(url, "static axis -2 of a rank-2 range (batch axis)", mentioning: "per batch row") {
      $0.setAttribute(i, "axis", -2)
      $0.setState(i, "_amax", [6, 1], tensorToo: true)
    }
    try expectRejected(url, "per-channel on the last axis with another width", mentioning: "9 channels") {
      $0.setAttribute(i, "axis", -1)
      $0.setState(i, "_amax", [1, 9], tensorToo: true)
    }
    try expectRejected(url, "static per-block activation", mentioning: "static per-block ranges") {
      $0.setAttribute(i, "blockSize", 4)
      $0.setState(i, "_amax", [1, 2], tensorToo: true)
    }
    try expectRejected(url, "a slot the layer does not have", mentioning: "no quantizer slot 'fc1.bias_quantizer'") {
      $0.setRecord("fc1.bias_quantizer", $0.record(i))
    }
  }

  @Test(arguments: ["lsq", "pact"])
  func pluginRecords(_ algorithm: String) throws {
    let url = try Self.source(algorithm: algorithm)
    let i = "fc1.input_quantizer"
    #expect(try EditableCheckpoint(url).record(i)?["attributes"].map { "\($0)" }?.contains(algorithm) == true)
    try expectRejected(url, "\(algorithm) int64", mentioning: "integer width 64 bits") { $0.setAttribute(i, "format", "int64") }
    try expectRejected(url, "\(algorithm) int9", mentioning: "integer width 9 bits") { $0.setAttribute(i, "format", "int9") }
    try expectRejected(url, "\(algorithm) e4m3", mentioning: "'\(algorithm)' does not support e4m3") { $0.setAttribute(i, "format", "e4m3") }
    try expectRejected(url, "\(algorithm) state [2^40]", mentioning: "the record says [1099511627776]") { $0.setState(i, "_amax", [1 << 40]) }
  }

  /// A per-channel activation range that is consistent with the layer restores, and runs.
  @Test func consistentPerChannelActivationRestores() throws {
    let url = try Self.source(activations: .int(8, axis: -1))
    let fresh = MLP(Self.sizes, seed: 5)
    try restore(fresh, from: url, registry: InTreePlugins.registry)
    var rng = RandomGenerator(seed: 3)
    let y = try fresh.checkedForward(Tensor.randn([4, 8], using: &rng))
    #expect(y.shape == [4, 10])
  }

  /// Without the file's shapes (a mode restored directly), state is bounded by a fixed limit.
  @Test func directModeRestoreBoundsState() throws {
    let meta = JSONValue.object([
      "quantizers": .object([
        "fc1.weight_quantizer": .object([
          "attributes": try JSONValue.encoding(QuantizerAttributes.int(8, axis: 0)),
          "state": .object(["_amax": .array([.number(1_073_741_824), .number(1)])]),
        ])
      ])
    ])
    #expect(throws: ConfigError.self) {
      try QuantizeMode.restore(MLP(Self.sizes), config: QuantizeConfig([]), metadata: meta, context: ModeContext())
    }
  }

  /// Checkpoints before format 3 have their static block ranges migrated to `[blocks, 1]`
  /// while the header is read: a recorded shape of `[1e300]` trapped converting to `Int`, and
  /// `[2^32, 2^32]` overflowed the product. Now they are left for restore to reject.
  @Test func oldFormatBlockRangesWithHostileShapesAreRejected() throws {
    let m = MLP(Self.sizes, seed: 1)
    let config = QuantizeConfig([.init("*weight_quantizer", cfg: .int(4, blockSize: 4))])
    try convert(m, modes: [.quantize(config)], registry: InTreePlugins.registry)
    let url = tempURL("blocks.safetensors")
    try save(m, to: url, registry: InTreePlugins.registry)
    for shape: [Any] in [[1e300], [4294967296, 4294967296], [-1, 3], [0.5]] {
      try expectRejected(url, "format 2, _amax \(shape)", mentioning: "fc1.weight_quantizer") { c in
        c.metadata["format_version"] = "2"
        c.setState("fc1.weight_quantizer", "_amax", shape)
      }
    }
  }
}
