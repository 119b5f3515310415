import Foundation
import QATKit
import Testing
@testable import QATExport

/// Interop with unified checkpoints written by ModelOpt 0.47 itself
/// (`Fixtures/modelopt_export`): import reproduces ModelOpt's fake-quantized weights and a
/// quantized layer's output, and QATKit's export of the same kinds has ModelOpt's tensor
/// names, dtypes, shapes and JSON keys.
@Suite("Unified checkpoint: ModelOpt interop") struct UnifiedModelOptTests {
  static let dir = fixtures().appendingPathComponent("modelopt_export")
  static let reference = try! SafeTensorsFile(contentsOf: dir.appendingPathComponent("reference.safetensors"))
  static let layerOf = [
    "fp8": "encoder.layer.0.attention.self.query", "int8_sq": "encoder.layer.0.attention.self.query",
    "int4_awq": "encoder.layer.0.output.dense", "w4a8_awq": "encoder.layer.0.output.dense",
  ]

  static func big() -> Node { bertLayout(hidden: 128, layers: 2, ffn: 256, vocab: 120, positions: 64) }
  static func small() -> Node { bertLayout(hidden: 32, layers: 1, ffn: 64, vocab: 16, positions: 8) }

  static func module(_ root: Module, _ path: String) -> Module {
    root.namedModules().first { $0.0 == path }!.1
  }

  /// Largest |a − b| relative to the largest |b|.
  static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max()! / b.map(abs).max()!
  }

  /// ModelOpt's four exports: the dequantized weight is ModelOpt's fake-quantized weight (FP8
  /// bit for bit; INT8 / INT4 / W4A8 within 4 ulp, since ModelOpt trains with
  /// `q / (maxBound/amax)` and stores `amax/maxBound`), and the loaded layer reproduces the
  /// quantized layer's output.
  @Test(arguments: ["fp8", "int8_sq", "int4_awq", "w4a8_awq"])
  func importModelOptExport(kind: String) throws {
    let contents = try UnifiedCheckpoint.read(Self.dir.appendingPathComponent(kind))
    #expect(contents.producer == "modelopt 0.47.0")
    #expect(contents.excludeModules == ["embeddings*"])
    #expect(contents.layers.count == 13)
    let path = Self.layerOf[kind]!
    let layer = contents.layers.first { $0.path == path }!
    let fake = try Self.reference.floats("\(kind).weight_fake_quant")
    let maxULP = zip(layer.weight.scalars, fake).map { ulps($0, $1) }.max()!
    #expect(maxULP <= (kind == "fp8" ? 0 : 4), "\(kind): \(maxULP) ulp")
    switch kind {
    case "int8_sq", "int4_awq", "w4a8_awq": #expect(layer.preQuantScale?.count == layer.weight.shape[1])
    default: #expect(layer.preQuantScale == nil)
    }
    if kind == "w4a8_awq" || kind == "fp8" || kind == "int8_sq" { #expect(layer.inputScale != nil) }

    let model = Self.big()
    try contents.load(into: model)
    let linear = Self.module(model, path)
    let xInfo = try Self.reference.info("\(kind).input")
    let x = try Tensor(Self.reference.floats("\(kind).input"), shape: xInfo.shape)
    let want = try Self.reference.floats("\(kind).output")
    let got = Tensor.withoutGrad { linear(x) }.scalars
    // Same arithmetic up to float rounding (matmul order, 4-ulp weights, the activation range
    // recovered as input_scale × maxBound): measured ≤ 5.3e-7 of the largest output.
    let err = Self.relativeError(got, want)
    #expect(err <= 1e-5, "\(kind): relative error \(err)")
  }

  /// NVFP4 and MXFP4 exports of a smaller BERT: dequantization equals ModelOpt's own CPU
  /// dequantization bit for bit.
  @Test(arguments: ["nvfp4", "mxfp4"])
  func importModelOptFP4(kind: String) throws {
    let contents = try UnifiedCheckpoint.read(Self.dir.appendingPathComponent(kind))
    let layer = contents.layers.first { $0.path == "encoder.layer.0.output.dense" }!
    #expect(layer.weight.scalars == (try Self.reference.floats("\(kind).weight_dequant")))
    #expect(layer.algorithm == (kind == "nvfp4" ? .nvfp4 : .mxfp4))
    if kind == "nvfp4" { #expect(ulps(layer.inputAmax!, 3) <= 1) }  // input_scale = 3 / 2688
    try contents.load(into: Self.small())
  }

  /// QATKit's export of the BERT layout with the same kinds of quantization has ModelOpt's
  /// tensor names, dtypes and shapes, and the same JSON keys in `hf_quant_config.json` and
  /// `config.json` (with ModelOpt's `config.json` minus `quantization_config` as the model's
  /// config). W4A8 AWQ is import-only.
  @Test(arguments: ["fp8", "int8_sq", "int4_awq", "nvfp4", "mxfp4"])
  func exportMatchesModelOptLayout(kind: String) throws {
    let model = kind == "nvfp4" || kind == "mxfp4" ? Self.small() : Self.big()
    for (_, m) in model.namedModules() where m is Linear {
      let inF = (m as! Linear).inFeatures
      switch kind {
      case "fp8": try quantize(m, weight: QuantizerAttributes(format: .e4m3), input: QuantizerAttributes(format: .e4m3))
      case "int8_sq":
        try quantize(m, weight: .int(8, axis: 0), input: .int(8), preQuantScale: (0..<inF).map { 1 + Float($0 % 3) / 4 })
      case "int4_awq": try quantize(m, weight: .int(4, blockSize: 128))
      case "nvfp4": try quantize(m, weight: QuantizerAttributes(format: .nvfp4), input: QuantizerAttributes(format: .nvfp4), inputAmax: 3)
      default: try quantize(m, weight: QuantizerAttributes(format: .mxfp4), input: QuantizerAttributes(format: .mxfp4))
      }
    }
    let theirs = Self.dir.appendingPathComponent(kind)
    var config = try JSONValue(parsing: String(contentsOf: theirs.appendingPathComponent("config.json"), encoding: .utf8))
    guard case .object(var o) = config else { Issue.record("config.json is not an object"); return }
    o["quantization_config"] = nil
    config = .object(o)
    let ours = tempURL(kind)
    try UnifiedCheckpoint.write(model, to: ours, options: UnifiedExportOptions(hfConfig: config))

    let a = try SafeTensorsFile(contentsOf: ours.appendingPathComponent("model.safetensors"))
    let b = try SafeTensorsFile(contentsOf: theirs.appendingPathComponent("model.safetensors"))
    // ModelOpt's AWQ folds the pre_quant_scale of q/k/v into the LayerNorm before them and
    // keeps it elsewhere; QATKit has no AWQ search and writes a unit pre_quant_scale on every
    // W4A16 layer, so its names are ModelOpt's plus those pre_quant_scale tensors.
    let onlyOurs = Set(a.names).subtracting(b.names)
    #expect(Set(b.names).isSubset(of: a.names), "\(kind): missing \(Set(b.names).subtracting(a.names).sorted())")
    if kind == "int4_awq" {
      #expect(onlyOurs.allSatisfy { $0.hasSuffix("attention.self.query.pre_quant_scale") || $0.hasSuffix("attention.self.key.pre_quant_scale") || $0.hasSuffix("attention.self.value.pre_quant_scale") })
      #expect(onlyOurs.count == 6)
    } else {
      #expect(onlyOurs.isEmpty, "\(kind): only QATKit \(onlyOurs.sorted())")
    }
    for name in Set(a.names).intersection(b.names) {
      #expect(try a.info(name).dtype == b.info(name).dtype, "\(kind) \(name)")
      #expect(try a.info(name).shape == b.info(name).shape, "\(kind) \(name)")
    }
    for file in ["hf_quant_config.json", "config.json"] {
      let mine = try JSONValue(parsing: String(contentsOf: ours.appendingPathComponent(file), encoding: .utf8))
      let model = try JSONValue(parsing: String(contentsOf: theirs.appendingPathComponent(file), encoding: .utf8))
      #expect(Self.keyPaths(mine) == Self.keyPaths(model), "\(kind) \(file)")
    }
    let hf = try JSONValue(parsing: String(contentsOf: ours.appendingPathComponent("hf_quant_config.json"), encoding: .utf8))
    let theirsHF = try JSONValue(parsing: String(contentsOf: theirs.appendingPathComponent("hf_quant_config.json"), encoding: .utf8))
    #expect(hf["quantization"] == theirsHF["quantization"], "\(kind): same algorithm, group size and exclusions")
  }

  /// Every key path of a JSON document (`quantization.exclude_modules`), arrays not descended.
  static func keyPaths(_ v: JSONValue, prefix: String = "") -> Set<String> {
    guard case .object(let o) = v else { return [] }
    var out = Set<String>()
    for (k, child) in o {
      let p = prefix.isEmpty ? k : "\(prefix).\(k)"
      out.insert(p)
      out.formUnion(keyPaths(child, prefix: p))
    }
    return out
  }
}
