public import Foundation

extension QuantizedTensor {
  /// The safetensors dtype of the codes: `I8` for signed 5–8-bit integers, `U8` for packed
  /// 4-bit codes and unsigned integers, `F8_E4M3` / `F8_E5M2` for FP8 and MXFP8 elements.
  public var codeDType: DType {
    switch format {
    case .int(let bits, let signed): return bits > 4 && signed ? .i8 : .u8
    case .e4m3, .mxfp8: return .f8E4M3
    case .e5m2: return .f8E5M2
    case .nvfp4, .mxfp4: return .u8
    }
  }

  /// The stored shape of the codes (last axis halved, rounded up, when packed).
  public var codeShape: [Int] {
    guard isPacked, var s = Optional(shape), !s.isEmpty else { return shape.isEmpty ? [codes.count] : shape }
    s[s.count - 1] = (s[s.count - 1] + 1) / 2
    return s.reduce(1, *) == codes.count ? s : [codes.count]
  }
}

/// Writes the model in deployment form as safetensors, with ModelOpt-like names: for every
/// quantized weight `<m>.weight` (codes), `<m>.weight_scale` (F32 `amax/maxBound` per
/// group; NVFP4: `F8_E4M3` block scales; MX: `U8` E8M0 exponents), `<m>.weight_scale_2`
/// (NVFP4's F32 global scale), `<m>.weight_zero_point` for asymmetric integers (their codes'
/// dtype, one per group; `weight_scale` is then the affine scale, `x ≈ (q − zero_point) ·
/// scale`), and `<m>.input_scale` (F32 `amax/maxBound`) for calibrated
/// per-tensor input quantizers; every other parameter as F32. The export is verified first
/// (see ``exportQuantized(_:)``). Metadata: `quantization` = the format of each weight.
///
/// - Throws: export or verification errors, or ``SafeTensorsError`` from writing.
public func writeQuantizedSafeTensors(_ model: Module, to url: URL) throws {
  let quantized = try exportQuantized(model)
  var tensors: [SafeTensors.Tensor] = []
  var formats: [String] = []
  for (path, t) in model.stateDict() where !path.contains("_quantizer.") {
    if let q = quantized[path] {
      tensors.append((path, q.codeDType, q.codeShape, q.codes))
      let scale = path + "_scale"
      switch q.format {
      case .int, .e4m3, .e5m2:
        // Block ranges as `[..., lastDim / block]` (ModelOpt's weight_scale layout), others as `_amax`.
        var shape = q.amaxShape
        if case .perBlock(let b) = q.granularity, var s = Optional(q.shape), !s.isEmpty {
          s[s.count - 1] /= b
          shape = s
        }
        tensors.append((scale, .f32, shape, DType.f32.encode(q.scales)))
        if q.isAffine {
          let signed = if case .int(_, true) = q.format { true } else { false }
          let bytes = q.zeroPoints.map { signed ? UInt8(bitPattern: Int8($0)) : UInt8($0) }
          tensors.append((path + "_zero_point", signed ? .i8 : .u8, shape, bytes))
        }
      case .nvfp4:
        tensors.append((scale, .f8E4M3, q.blockScaleShape, q.blockScaleCodes))
        tensors.append((path + "_scale_2", .f32, [], DType.f32.encode([q.globalScale ?? 0])))
      case .mxfp4, .mxfp8:
        tensors.append((scale, .u8, q.blockScaleShape, q.blockScaleCodes))
      }
      formats.append("\(path)=\(q.format)")
    } else {
      tensors.append((path, .f32, t.shape, DType.f32.encode(t.scalars)))
    }
  }
  for (modulePath, m) in model.namedModules() {
    guard let q = m.quantizer(slot: "input_quantizer"), q.isEnabled, q.attributes.format.usesAmax,
      let amax = q.stateTensors().first(where: { $0.0 == "_amax" })?.1, amax.count == 1
    else { continue }
    let name = modulePath.isEmpty ? "input_scale" : "\(modulePath).input_scale"
    tensors.append((name, .f32, [], DType.f32.encode([amax.scalars[0] / q.attributes.format.maxBound])))
  }
  try SafeTensors.write(tensors, metadata: ["quantization": formats.sorted().joined(separator: ",")], to: url)
}
