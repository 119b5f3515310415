import Foundation
import QATKit

/// What the unified checkpoint of a model must hold: every tensor's dtype, shape and bytes,
/// and for each quantized layer the fake-quantized weight the model computes with.
struct UnifiedExpected {
  struct Layer {
    let plan: UnifiedLayerPlan
    /// The fake-quantized weight (`weight_quantizer(weight)`).
    let fake: [Float]
  }

  let plan: UnifiedModelPlan
  let layers: [Layer]
  /// Every tensor in file order.
  let tensors: [SafeTensors.Tensor]
  /// The exported layer list for the report and the config.
  var exportedLayers: [UnifiedExportedLayer] {
    layers.map { UnifiedExportedLayer(path: $0.plan.path, algorithm: $0.plan.algorithm, groupSize: $0.plan.groupSize) }
  }

  /// Plans the export of `model` and computes its tensors.
  ///
  /// - Throws: ``ExportError`` for layers the format cannot hold, or when a quantizer's codes
  ///   do not dequantize to its fake-quantized weight.
  init(_ model: Module) throws {
    let plan = try UnifiedModelPlan.make(model)
    var layers: [Layer] = []
    var extra: [String: [SafeTensors.Tensor]] = [:]
    for p in plan.quantized {
      let (tensors, fake) = try Self.tensors(for: p)
      extra[p.key("weight")] = tensors
      layers.append(Layer(plan: p, fake: fake))
    }
    var out: [SafeTensors.Tensor] = []
    for (name, t) in model.stateDict() where !name.contains("_quantizer.") {
      if let e = extra[name] {
        out.append(contentsOf: e)
      } else {
        out.append((name, .f32, t.shape, DType.f32.encode(t.scalars)))
      }
    }
    self.plan = plan
    self.layers = layers
    tensors = out
  }

  /// The tensors of one quantized layer (weight first) and its fake-quantized weight.
  private static func tensors(for p: UnifiedLayerPlan) throws -> ([SafeTensors.Tensor], [Float]) {
    let w = p.weight
    let name = p.path.isEmpty ? "(root)" : p.path
    let qt: QuantizedTensor
    do { qt = try p.weightQuantizer.export(w) } catch {
      throw ExportError.unsupported(layer: name, "its weight quantizer cannot export codes: \(error)")
    }
    let fake = Tensor.withoutGrad { p.weightQuantizer(w) }.scalars
    let deq = qt.dequantize().scalars
    if let i = fake.indices.first(where: { !(fake[$0] == deq[$0] || (fake[$0].isNaN && deq[$0].isNaN)) }) {
      throw ExportError.verificationFailed(
        "layer '\(name)': the quantizer's codes dequantize to \(deq[i]) at element \(i), the fake-quantized weight is \(fake[i])")
    }
    if let i = fake.firstIndex(where: { !$0.isFinite }) {
      throw ExportError.unsupported(layer: name, "its fake-quantized weight holds \(fake[i]) at element \(i); only finite weights can be exported")
    }
    let out = w.shape[0]
    let inF = w.count / Swift.max(out, 1)
    var t: [SafeTensors.Tensor] = []
    func f32(_ n: String, _ shape: [Int], _ v: [Float]) { t.append((p.key(n), .f32, shape, DType.f32.encode(v))) }
    switch p.algorithm {
    case .w8a16, .w8a8:
      t.append((p.key("weight"), .i8, w.shape, qt.codes))
      let rows = qt.amax.count == 1 ? [Float](repeating: qt.amax[0], count: out) : qt.amax
      f32("weight_scale", [out], rows.map { $0 / 127 })
      if let a = p.inputAmax { f32("input_scale", [], [a / 127]) }
      if let pqs = p.preQuantScale { f32("pre_quant_scale", [inF], pqs) }
    case .w4a16AWQ:
      let grid = qt.gridValues().map { Int8($0) }
      t.append((p.key("weight"), .u8, [out / 2, inF], Nibbles.packAlongRows(grid, rows: out, cols: inF)))
      f32("weight_scale", [out, inF / (p.groupSize ?? inF)], qt.amax.map { $0 / 7 })
      f32("pre_quant_scale", [inF], p.preQuantScale ?? [Float](repeating: 1, count: inF))
    case .fp8:
      t.append((p.key("weight"), .f8E4M3, w.shape, qt.codes))
      let a = qt.amax[0]
      f32("weight_scale", [], [a > QuantCodec.tinyAmax ? 1 / ((1 / a) * 448) : 1])
      if let a = p.inputAmax { f32("input_scale", [], [a / 448]) }
    case .nvfp4, .w4a16NVFP4:
      t.append((p.key("weight"), .u8, [out, inF / 2], qt.codes))
      t.append((p.key("weight_scale"), .f8E4M3, [out, inF / 16], qt.blockScaleCodes))
      f32("weight_scale_2", [], [qt.globalScale ?? 0])
      if let a = p.inputAmax { f32("input_scale", [], [a / 2688]) }
    case .mxfp4:
      t.append((p.key("weight"), .u8, [out, inF / 2], qt.codes))
      t.append((p.key("weight_scale"), .u8, [out, inF / 32], qt.blockScaleCodes))
    case .w4a8AWQ:
      throw ExportError.unsupported(layer: name, "W4A8_AWQ is import-only")
    }
    return (t, fake)
  }
}
