import Foundation
import QATKit
import QATRegistry
import Testing
@testable import QATExport

/// Bad input and self-verification: clear errors, and never a partial directory.
@Suite("Unified checkpoint: errors and verification") struct UnifiedErrorTests {
  static func quantizedMLP(_ config: QuantizeConfig = QuantizeConfig(preset: .int8)) throws -> MLP {
    let m = MLP([16, 8, 4], seed: 2)
    var rng = RandomGenerator(seed: 3)
    let x = Tensor.randn([16, 16], using: &rng)
    try convert(m, modes: [.quantize(config)], forwardLoop: { _ = $0(x) })
    return m
  }

  /// The entries of `dir`'s parent other than `dir` itself (temporary leftovers).
  static func siblings(of dir: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir.deletingLastPathComponent().path)
      .filter { $0 != dir.lastPathComponent }
  }

  @Test func corruptedByteIsCaughtAndNothingIsLeft() throws {
    let m = try Self.quantizedMLP()
    let dir = tempURL("out")
    var options = UnifiedExportOptions()
    options.afterWriting = { temp in
      // Flip one bit of the last data byte of model.safetensors (fc2's input_scale or a code).
      let url = temp.appendingPathComponent("model.safetensors")
      var bytes = [UInt8](try Data(contentsOf: url))
      bytes[bytes.count - 1] ^= 0x01
      try Data(bytes).write(to: url)
    }
    #expect {
      try UnifiedCheckpoint.write(m, to: dir, options: options)
    } throws: { e in
      guard case ExportError.verificationFailed(let msg) = e else { return false }
      return msg.contains("differs at byte")
    }
    #expect(!FileManager.default.fileExists(atPath: dir.path))
    #expect(try Self.siblings(of: dir).isEmpty)
  }

  /// `verify(_:against:)` on a finished directory: a changed code byte and a changed scale
  /// are both reported.
  @Test func verifyCatchesChangedCodeAndScale() throws {
    let m = try Self.quantizedMLP()
    let dir = tempURL("out")
    try UnifiedCheckpoint.write(m, to: dir)
    #expect(try UnifiedCheckpoint.verify(dir, against: m).tensors > 0)
    let url = dir.appendingPathComponent("model.safetensors")
    let file = try SafeTensorsFile(contentsOf: url)
    let original = try Data(contentsOf: url)
    for name in ["fc1.weight", "fc2.weight_scale"] {
      let info = try file.info(name)
      var bytes = [UInt8](original)
      bytes[8 + file.headerLength + info.dataOffsets.lowerBound] ^= 0x10
      try Data(bytes).write(to: url)
      #expect(throws: ExportError.self) { try UnifiedCheckpoint.verify(dir, against: m) }
    }
    // A wrong exclusion list is caught too.
    try original.write(to: url)
    let hf = dir.appendingPathComponent("hf_quant_config.json")
    let text = try String(contentsOf: hf, encoding: .utf8).replacingOccurrences(of: "\"exclude_modules\" : [\n\n    ]", with: "\"exclude_modules\" : [\"fc*\"]")
    try text.write(to: hf, atomically: true, encoding: .utf8)
    #expect {
      try UnifiedCheckpoint.verify(dir, against: m)
    } throws: { e in "\(e)".contains("matches exclude_modules pattern 'fc*'") }
  }

  @Test func noQuantizers() throws {
    #expect(throws: ExportError.noQuantizers("the model has no enabled weight quantizer")) {
      try UnifiedCheckpoint.write(MLP([4, 4]), to: tempURL("x"))
    }
  }

  @Test func formatsTheTargetCannotHoldNameTheLayer() throws {
    // W2 per-channel: no unified algorithm.
    let w2 = try Self.quantizedMLP(.weightsAndActivations(weights: .int(2, axis: 0), activations: nil))
    #expect { try UnifiedCheckpoint.write(w2, to: tempURL("x")) } throws: { e in
      guard case ExportError.unsupported(let layer, let msg) = e else { return false }
      return layer == "fc1" && msg.contains("int2")
    }
    // INT4 blocks on a Conv2d: the packing needs a 2-D Linear weight.
    let cnn = SmallCNN()
    try quantize(cnn.conv1, weight: .int(4, blockSize: 3))
    #expect { try UnifiedCheckpoint.write(cnn, to: tempURL("x")) } throws: { e in
      guard case ExportError.unsupported(let layer, let msg) = e else { return false }
      return layer == "conv1" && msg.contains("Conv2d")
    }
    // INT4 weights with FP8 activations (ModelOpt's W4A8) are import-only.
    let l = Linear(8, 4)
    try quantize(l, weight: .int(4, blockSize: 8), input: QuantizerAttributes(format: .e4m3))
    #expect { try UnifiedCheckpoint.write(Node([("proj", l)]), to: tempURL("x")) } throws: { e in
      guard case ExportError.unsupported(let layer, let msg) = e else { return false }
      return layer == "proj" && msg.contains("W4A8_AWQ")
    }
    // An enabled output quantizer has no place in the format.
    let o = Linear(8, 4)
    try quantize(o, weight: .int(8, axis: 0))
    o.setQuantizer(try TensorQuantizer(attributes: .int(8, dynamic: true)), slot: "output_quantizer")
    #expect { try UnifiedCheckpoint.write(Node([("head", o)]), to: tempURL("x")) } throws: { e in
      guard case ExportError.unsupported(let layer, let msg) = e else { return false }
      return layer == "head" && msg.contains("output_quantizer")
    }
    // Conv2d with INT8 per-channel is fine.
    let cnn8 = SmallCNN()
    try quantize(cnn8.conv1, weight: .int(8, axis: 0))
    let dir = tempURL("cnn")
    let report = try UnifiedCheckpoint.write(cnn8, to: dir)
    #expect(report.layers.map(\.path) == ["conv1"])
    #expect(report.excludedModules == ["conv2", "fc"])
    #expect(try SafeTensorsFile(contentsOf: dir.appendingPathComponent("model.safetensors")).info("conv1.weight_scale").shape == [8])
  }

  @Test func unwritableOrExistingPaths() throws {
    let m = try Self.quantizedMLP()
    let missingParent = tempURL("no/such/dir/out")
    #expect { try UnifiedCheckpoint.write(m, to: missingParent) } throws: { e in
      guard case ExportError.cannotWrite(_, let msg) = e else { return false }
      return msg.contains("does not exist")
    }
    let dir = tempURL("out")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
    try Data("keep".utf8).write(to: dir.appendingPathComponent("mine.txt"))
    #expect(throws: ExportError.destinationExists(dir.standardizedFileURL.path)) { try UnifiedCheckpoint.write(m, to: dir) }
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("mine.txt").path))
    try UnifiedCheckpoint.write(m, to: dir, options: UnifiedExportOptions(overwrite: true))
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("mine.txt").path))
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("hf_quant_config.json").path))
    #expect(try Self.siblings(of: dir).isEmpty)
    // A read-only parent directory (skipped when running as root, which may write anyway).
    if getuid() != 0 {
      let ro = tempURL("ro")
      try FileManager.default.createDirectory(at: ro, withIntermediateDirectories: false)
      try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: ro.path)
      defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: ro.path) }
      #expect(throws: ExportError.self) { try UnifiedCheckpoint.write(m, to: ro.appendingPathComponent("out")) }
    }
  }

  @Test func importRejectsMalformedDirectories() throws {
    let m = try Self.quantizedMLP()
    let dir = tempURL("out")
    try UnifiedCheckpoint.write(m, to: dir)
    // Not a unified checkpoint: no hf_quant_config.json.
    let plain = tempURL("plain")
    try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: false)
    try FileManager.default.copyItem(at: dir.appendingPathComponent("model.safetensors"), to: plain.appendingPathComponent("model.safetensors"))
    #expect { try UnifiedCheckpoint.read(plain) } throws: { e in "\(e)".contains("hf_quant_config.json") }
    // An unknown algorithm.
    let hf = dir.appendingPathComponent("hf_quant_config.json")
    let good = try String(contentsOf: hf, encoding: .utf8)
    try good.replacingOccurrences(of: "W8A8_SQ_PER_CHANNEL", with: "W3A5").write(to: hf, atomically: true, encoding: .utf8)
    #expect { try UnifiedCheckpoint.read(dir) } throws: { e in "\(e)".contains("'W3A5' is not supported") }
    // A weight scale of the wrong size.
    try good.write(to: hf, atomically: true, encoding: .utf8)
    let url = dir.appendingPathComponent("model.safetensors")
    let f = try SafeTensorsFile(contentsOf: url)
    var tensors: [SafeTensors.Tensor] = try f.names.map { (name: $0, dtype: try f.info($0).dtype, shape: try f.info($0).shape, bytes: try f.rawBytes($0)) }
    let i = tensors.firstIndex { $0.name == "fc1.weight_scale" }!
    tensors[i] = (name: "fc1.weight_scale", dtype: .f32, shape: [3], bytes: DType.f32.encode([1, 1, 1]))
    try SafeTensors.write(tensors, to: url)
    #expect { try UnifiedCheckpoint.read(dir) } throws: { e in "\(e)".contains("fc1.weight_scale") }
    // A tensor the layer's algorithm does not define.
    tensors[i] = try (name: "fc1.weight_scale", dtype: .f32, shape: f.info("fc1.weight_scale").shape, bytes: f.rawBytes("fc1.weight_scale"))
    tensors.append((name: "fc1.weight_scale_2", dtype: .f32, shape: [], bytes: DType.f32.encode([1])))
    try SafeTensors.write(tensors, to: url)
    #expect { try UnifiedCheckpoint.read(dir) } throws: { e in "\(e)".contains("weight_scale_2, which W8A8_SQ_PER_CHANNEL does not use") }
    // Loading into another architecture names the mismatch and changes nothing.
    try UnifiedCheckpoint.write(m, to: dir, options: UnifiedExportOptions(overwrite: true))
    let other = MLP([16, 9, 4])
    let before = other.layers[0].weight.scalars
    #expect { try UnifiedCheckpoint.read(dir).load(into: other) } throws: { e in "\(e)".contains("mis-shaped") }
    #expect(other.layers[0].weight.scalars == before)
    #expect(other.namedQuantizers().isEmpty)
  }
}
