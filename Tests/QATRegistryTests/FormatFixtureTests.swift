import Foundation
import QATKit
import Testing
@testable import QATRegistry

/// One committed checkpoint per released format version; each must keep restoring to the same
/// outputs. Set `QATKIT_WRITE_FORMAT_FIXTURES=1` to (re)write the current version's file
/// after a deliberate format change (bump ``CheckpointFormat/currentVersion`` first).
@Suite struct FormatFixtureTests {
  static let sourceDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/formats")
  static var input: Tensor {
    var rng = RandomGenerator(seed: 77)
    return Tensor.randn([6, 4], using: &rng)
  }

  /// The model every fixture holds: MLP 4-6-3 with INT8 per-channel weights and an INT8
  /// first input, calibrated on `input`. Every range is a maximum of stored values (no matmul
  /// involved), so the file is the same on every CPU and build configuration.
  static func makeModel() throws -> MLP {
    let m = MLP([4, 6, 3], seed: 21)
    let config = QuantizeConfig(preset: .int8WeightOnly).adding("fc1.input_quantizer", .int(8))
    try convert(m, modes: [.quantize(config)], forwardLoop: { _ = $0(input) })
    return m
  }

  struct Expected: Codable { var outputs: [Float] }

  @Test(arguments: 1...CheckpointFormat.currentVersion)
  func releasedFormatRestores(version: Int) throws {
    let url = fixtures().appendingPathComponent("formats/mlp-int8-v\(version).safetensors")
    let expected = try JSONDecoder().decode(
      Expected.self, from: Data(contentsOf: fixtures().appendingPathComponent("formats/mlp-int8-expected.json")))
    let m = MLP([4, 6, 3], seed: 0)
    try restore(m, from: url)
    // Outputs go through matmul, whose rounding may differ between the portable and the
    // FMA build; the restored tensors themselves are exact.
    let outputs = Tensor.withoutGrad { m(Self.input).scalars }
    #expect(zip(outputs, expected.outputs).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    #expect(outputs.count == expected.outputs.count)
    #expect(try inspectCheckpoint(at: url).formatVersion == version)
  }

  /// A version-2 checkpoint with static INT4 block ranges (`[rows, blocksPerRow]` then,
  /// `[blocks, 1]` now, as ModelOpt) restores with the ranges reshaped and the same outputs;
  /// saving it again writes the current layout.
  @Test func blockRangesFromFormat2Migrate() throws {
    struct BlockExpected: Codable { var input: [Float]; var outputs: [Float] }
    let url = fixtures().appendingPathComponent("formats/mlp-int4block-v2.safetensors")
    let expected = try JSONDecoder().decode(
      BlockExpected.self, from: Data(contentsOf: fixtures().appendingPathComponent("formats/mlp-int4block-expected.json")))
    let raw = try SafeTensorsFile(contentsOf: url)
    #expect(try raw.info("fc1.weight_quantizer._amax").shape == [8, 2])
    let m = MLP([8, 8, 4], seed: 0)
    try restore(m, from: url)
    let state = Dictionary(uniqueKeysWithValues: m.stateDict())
    #expect(state["fc1.weight_quantizer._amax"]?.shape == [16, 1])
    #expect(state["fc2.weight_quantizer._amax"]?.shape == [8, 1])
    #expect(state["fc1.weight_quantizer._amax"]?.scalars == (try raw.floats("fc1.weight_quantizer._amax")))
    let input = try Tensor(expected.input, shape: [5, 8])
    let outputs = Tensor.withoutGrad { m(input).scalars }
    #expect(outputs.count == expected.outputs.count)
    #expect(zip(outputs, expected.outputs).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    let again = tempURL("block-v3.safetensors")
    try save(m, to: again)
    #expect(try SafeTensorsFile(contentsOf: again).info("fc1.weight_quantizer._amax").shape == [16, 1])
    let fresh = MLP([8, 8, 4], seed: 0)
    try restore(fresh, from: again)
    #expect(Tensor.withoutGrad { fresh(input).scalars } == outputs)
  }

  /// Today's writer reproduces the committed current-version file byte for byte, so format
  /// changes are deliberate.
  @Test func currentWriterMatchesCommittedFixture() throws {
    let m = try Self.makeModel()
    let url = tempURL("current.safetensors")
    try save(m, to: url)
    let name = "mlp-int8-v\(CheckpointFormat.currentVersion).safetensors"
    if ProcessInfo.processInfo.environment["QATKIT_WRITE_FORMAT_FIXTURES"] == "1" {
      try Self.writeFixtures(model: m, current: url)
    }
    #expect(try Data(contentsOf: url) == Data(contentsOf: fixtures().appendingPathComponent("formats/\(name)")))
  }

  private static func writeFixtures(model m: MLP, current: URL) throws {
    try FileManager.default.createDirectory(at: sourceDir, withIntermediateDirectories: true)
    let dest = sourceDir.appendingPathComponent("mlp-int8-v\(CheckpointFormat.currentVersion).safetensors")
    try? FileManager.default.removeItem(at: dest)
    try FileManager.default.copyItem(at: current, to: dest)
    let outputs = Tensor.withoutGrad { m(input).scalars }
    try JSONEncoder().encode(Expected(outputs: outputs)).write(to: sourceDir.appendingPathComponent("mlp-int8-expected.json"))
    // Released fixtures are never rewritten (their bytes are what older writers produced).
    let v1 = sourceDir.appendingPathComponent("mlp-int8-v1.safetensors")
    guard !FileManager.default.fileExists(atPath: v1.path) else { return }
    // Version 1 layout: `mode_history` metadata and `.amax` tensor names.
    let history = m.modeHistory.map { SavedModeV1(name: $0.name, config: $0.config, metadata: $0.metadata) }
    let text = String(decoding: try JSONEncoder().encode(history), as: UTF8.self)
    let tensors = m.stateDict().map {
      (name: $0.0.replacingOccurrences(of: "._amax", with: ".amax"), shape: $0.1.shape, values: $0.1.scalars)
    }
    try SafeTensors.write(
      floats: tensors, metadata: ["format": CheckpointFormat.name, "format_version": "1", "producer": "QATKit 0.0 (format 1)", "mode_history": text],
      to: sourceDir.appendingPathComponent("mlp-int8-v1.safetensors"))
  }
}
