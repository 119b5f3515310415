internal import CQATKitKernels

/// An activation function fused into an integer layer's epilogue.
public enum Int8Activation: Sendable, Equatable, CustomStringConvertible {
  /// No activation.
  case none
  /// `max(y, 0)`.
  case relu
  /// Exact GELU, `y · Φ(y)` (as ``Tensor/gelu()``).
  case gelu

  var code: Int32 {
    switch self {
    case .none: Int32(QK_ACT_NONE)
    case .relu: Int32(QK_ACT_RELU)
    case .gelu: Int32(QK_ACT_GELU)
    }
  }

  /// `"none"`, `"relu"` or `"gelu"`.
  public var description: String {
    switch self {
    case .none: "none"
    case .relu: "relu"
    case .gelu: "gelu"
    }
  }
}

/// A `Linear` layer running on integers: INT8 activation codes × INT8 weight codes summed exactly
/// in 32 bits, then dequantized, biased, activated and — when another integer layer follows —
/// requantized to that layer's input codes, all in the GEMM's epilogue.
///
/// Built from a quantized ``Linear`` (INT8 weights per channel on axis 0 or per tensor, a
/// calibrated INT8 per-tensor input quantizer, no output quantizer) with the codes and scales of
/// ``exportQuantized(_:)``. Numerics, for input `x` with range `a`, weight row `n` with range
/// `aₙ`:
///
/// - input codes `qx = clamp(rint(x · (127/a)), −128 (−127 narrow), 127)`, exactly the input
///   quantizer's codes;
/// - `acc = Σ qx · qw` exactly (`Int32`);
/// - `y = Float(acc) · dₙ + bias`, `dₙ = 1 / ((127/a) · (127/aₙ))` rounded once to `Float`.
///
/// The fake-quantized layer computes the same sum in `Float` from `qx/(127/a)` and
/// `qw/(127/aₙ)`, so the two differ by float rounding only (see README, "Integer inference").
/// Activation codes are stored with a +128 offset (the VNNI instruction multiplies unsigned by
/// signed bytes); `128 · Σ qw` per output undoes it.
///
/// Designed for any stack of linear layers (a BERT encoder's q/k/v/o and FFN layers can each be
/// one): ``callAsFunction(_:activation:)`` takes and returns floats, ``Int8InferenceModel``
/// chains layers on codes.
public final class Int8Linear: Sendable {
  /// Input features.
  public let inFeatures: Int
  /// Output features.
  public let outFeatures: Int
  /// `127 / input amax` (0 for a range at or below 2⁻²⁴): the input quantizer's multiplier.
  public let inputMultiplier: Float
  /// The smallest input code: −128, or −127 with a narrow range.
  public let inputMinCode: Int
  /// `inFeatures` rounded up to a multiple of 4 (bytes per row of input codes).
  package let depth: Int
  /// Weights packed by `qk_pack_weights` (panels of 32 output columns).
  let packed: [Int8]
  /// `128 · Σₖ qw[n, k]`.
  let correction: [Int32]
  /// `dₙ` per output.
  let dequant: [Float]
  /// Bias per output, if any.
  let bias: [Float]?

  /// Creates the layer from weight codes `[outFeatures, inFeatures]` (row-major) and ranges.
  ///
  /// - Parameters:
  ///   - weightCodes: INT8 weight codes.
  ///   - weightAmax: One range per output, or one for all.
  ///   - inputAmax: The input quantizer's calibrated range.
  ///   - narrowInput: Whether input codes stop at −127.
  ///   - bias: `outFeatures` values or `nil`.
  package init(
    weightCodes: [Int8], outFeatures: Int, inFeatures: Int, weightAmax: [Float], inputAmax: Float, narrowInput: Bool,
    bias: [Float]?
  ) {
    precondition(weightCodes.count == outFeatures * inFeatures && (weightAmax.count == outFeatures || weightAmax.count == 1))
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    let tiny = IntFakeQuant.minAmax
    inputMultiplier = inputAmax > tiny ? 127 / inputAmax : 0
    inputMinCode = narrowInput ? -127 : -128
    depth = Int(qk_padded_depth(Int32(inFeatures)))
    var packed = [Int8](repeating: 0, count: Int(qk_packed_weight_bytes(Int32(outFeatures), Int32(inFeatures))))
    var correction = [Int32](repeating: 0, count: outFeatures)
    weightCodes.withUnsafeBufferPointer { w in
      packed.withUnsafeMutableBufferPointer { p in
        correction.withUnsafeMutableBufferPointer { c in
          qk_pack_weights(w.baseAddress, Int32(outFeatures), Int32(inFeatures), p.baseAddress, c.baseAddress)
        }
      }
    }
    self.packed = packed
    self.correction = correction
    dequant = Self.dequantization(inputMultiplier: inputMultiplier, weightAmax: weightAmax, outFeatures: outFeatures)
    self.bias = bias
  }

  /// `dₙ = 1 / ((127/a) · (127/aₙ))` per output, rounded once to `Float` (0 for a range at or
  /// below 2⁻²⁴); `weightAmax` has one range per output or one for all.
  package static func dequantization(inputMultiplier: Float, weightAmax: [Float], outFeatures: Int) -> [Float] {
    let sx = Double(inputMultiplier)
    return (0..<outFeatures).map { n in
      let a = weightAmax.count == 1 ? weightAmax[0] : weightAmax[n]
      guard a > IntFakeQuant.minAmax, sx > 0 else { return 0 }
      return Float(1 / (sx * Double(127 / a)))
    }
  }

  /// Creates the layer from its parts (``stacked(_:)``, the integer training path of ``Linear``).
  package init(
    inFeatures: Int, outFeatures: Int, inputMultiplier: Float, inputMinCode: Int, depth: Int, packed: [Int8],
    correction: [Int32], dequant: [Float], bias: [Float]?
  ) {
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.inputMultiplier = inputMultiplier
    self.inputMinCode = inputMinCode
    self.depth = depth
    self.packed = packed
    self.correction = correction
    self.dequant = dequant
    self.bias = bias
  }

  /// One layer computing `layers`' outputs side by side (`[..., Σ outFeatures]`, in order) from
  /// one input, so one GEMM replaces several (a BERT layer's `query`, `key`, `value`): the same
  /// codes, sums and epilogue per output column, so each column block is bit for bit that
  /// layer's output.
  ///
  /// - Returns: `nil` when the layers cannot share one GEMM: no layers, different input
  ///   features or input quantization (multiplier, smallest code), or an output width that is
  ///   not a multiple of the 32-column weight panel before the last layer.
  package static func stacked(_ layers: [Int8Linear]) -> Int8Linear? {
    guard let first = layers.first else { return nil }
    for (i, l) in layers.enumerated() {
      guard l.inFeatures == first.inFeatures, l.inputMultiplier == first.inputMultiplier,
            l.inputMinCode == first.inputMinCode, i == layers.count - 1 || l.outFeatures % 32 == 0
      else { return nil }
    }
    let anyBias = layers.contains { $0.bias != nil }
    return Int8Linear(
      inFeatures: first.inFeatures, outFeatures: layers.reduce(0) { $0 + $1.outFeatures },
      inputMultiplier: first.inputMultiplier, inputMinCode: first.inputMinCode, depth: first.depth,
      packed: layers.flatMap(\.packed), correction: layers.flatMap(\.correction), dequant: layers.flatMap(\.dequant),
      bias: anyBias ? layers.flatMap { $0.bias ?? [Float](repeating: 0, count: $0.outFeatures) } : nil)
  }

  /// Creates the integer form of a quantized `Linear`.
  ///
  /// - Parameters:
  ///   - linear: A `Linear` after the `quantize` mode (see the type's requirements).
  ///   - path: The layer's path, for error messages.
  /// - Throws: ``Int8InferenceError/unsupportedQuantizer(path:_:)`` naming what is missing.
  public convenience init(_ linear: Linear, path: String = "") throws(Int8InferenceError) {
    let exported: QuantizedTensor
    do {
      guard let q = linear.quantizer(slot: "weight_quantizer"), q.isEnabled else {
        throw Int8InferenceError.unsupportedQuantizer(path: path, "the weight is not quantized")
      }
      exported = try q.export(linear.weight)
    } catch let e as Int8InferenceError {
      throw e
    } catch {
      throw .unsupportedQuantizer(path: path, "weight export failed: \(error)")
    }
    try self.init(linear, path: path, weight: exported)
  }

  /// Creates the layer from a `Linear` and its exported weight (``exportQuantized(_:)``).
  convenience init(_ linear: Linear, path: String, weight q: QuantizedTensor) throws(Int8InferenceError) {
    let name = path.isEmpty ? "<root>" : path
    guard q.format == .int(bits: 8, signed: true) else {
      throw .unsupportedQuantizer(path: name, "weight format is \(q.format), integer inference needs int8")
    }
    switch q.granularity {
    case .perChannel(axis: 0) where q.amax.count == linear.outFeatures: break
    case .perTensor where q.amax.count == 1: break
    default:
      throw .unsupportedQuantizer(path: name, "weight granularity \(q.granularity) (need per-channel on axis 0 or per-tensor)")
    }
    guard let iq = linear.quantizer(slot: "input_quantizer"), iq.isEnabled else {
      throw .unsupportedQuantizer(path: name, "the input is not quantized (its codes feed the integer GEMM)")
    }
    guard let input = iq as? TensorQuantizer, !input.isCalibrating else {
      throw .unsupportedQuantizer(path: name, "the input quantizer is '\(iq.attributes.algorithm)' (need the static int8 quantizer, calibrated)")
    }
    let a = input.attributes
    guard a.format == .int(bits: 8, signed: true), a.granularity == .perTensor, !a.dynamic else {
      throw .unsupportedQuantizer(
        path: name, "input quantizer is \(a.format) \(a.granularity)\(a.dynamic ? " dynamic" : "") (need int8 per-tensor, static)")
    }
    guard let amax = input.amax, amax.count == 1 else {
      throw .unsupportedQuantizer(path: name, "the input quantizer has no calibrated range")
    }
    if let oq = linear.quantizer(slot: "output_quantizer"), oq.isEnabled {
      throw .unsupportedQuantizer(path: name, "the output quantizer is enabled")
    }
    let codes = q.codes.map { Int8(bitPattern: $0) }
    self.init(
      weightCodes: codes, outFeatures: linear.outFeatures, inFeatures: linear.inFeatures, weightAmax: q.amax,
      inputAmax: amax.scalars[0], narrowInput: a.narrowRange, bias: linear.bias?.scalars)
  }

  /// Runs the layer on floats: `x [..., inFeatures]` → `[..., outFeatures]` (the input quantized
  /// as its input quantizer does, the output dequantized, biased and activated).
  public func callAsFunction(_ x: Tensor, activation: Int8Activation = .none) -> Tensor {
    callAsFunction(x, activation: activation, instructionSet: .best)
  }

  /// The same on a given instruction set (which this CPU must support).
  package func callAsFunction(_ x: Tensor, activation: Int8Activation, instructionSet isa: Int8InstructionSet) -> Tensor {
    precondition(x.rank >= 1 && x.shape.last == inFeatures, "Int8Linear: input \(x.shape), expected [..., \(inFeatures)]")
    let rows = inFeatures == 0 ? 0 : x.count / inFeatures
    let codes = quantizeInput(x.storage, rows: rows, isa: isa)
    let out = [Float](unsafeUninitializedCapacity: rows * outFeatures) { o, n in
      codes.withUnsafeBufferPointer { c in
        run(c.baseAddress!, rows: rows, activation: activation, isa: isa, out: o.baseAddress, codes: nil, ldCodes: 0,
            nextMultiplier: 0, nextMin: -128)
      }
      n = rows * outFeatures
    }
    return Tensor(shape: Array(x.shape.dropLast()) + [outFeatures], storage: out)
  }

  /// Input codes (+128) of `rows × inFeatures` floats, rows of ``depth`` bytes (row ranges in
  /// parallel for large inputs; each row's codes do not depend on the split).
  package func quantizeInput(_ x: [Float], rows: Int, isa: Int8InstructionSet) -> [UInt8] {
    let count = Swift.max(1, rows * depth)
    let (k, depth, multiplier, minCode) = (inFeatures, depth, inputMultiplier, Int32(inputMinCode))
    return [UInt8](unsafeUninitializedCapacity: count) { c, n in
      x.withUnsafeBufferPointer { xp in
        if rows > 0 {
          let box = SendableBox((xp.baseAddress!, c.baseAddress!))
          Parallel.forRanges(rows, grain: Swift.max(1, (1 << 16) / Swift.max(1, k))) { r in
            qk_quantize_u8(
              Int32(isa.rawValue), box.value.0 + r.lowerBound * k, Int32(r.count), Int32(k), Int32(k), multiplier,
              minCode, box.value.1 + r.lowerBound * depth, Int32(depth), Int32(depth))
          }
        } else {
          c[0] = 128
        }
      }
      n = count
    }
  }

  /// Runs the integer GEMM and its epilogue on `rows` rows of input codes (``depth`` bytes each):
  /// floats into `out` (`rows × outFeatures`) and/or the next layer's codes into `codes` (rows
  /// `ldCodes` bytes apart). Large products split over rows (or output panels) across cores.
  package func run(
    _ a: UnsafePointer<UInt8>, rows: Int, activation: Int8Activation, isa: Int8InstructionSet,
    out: UnsafeMutablePointer<Float>?, codes: UnsafeMutablePointer<UInt8>?, ldCodes: Int, nextMultiplier: Float,
    nextMin: Int32
  ) {
    guard rows > 0, outFeatures > 0 else { return }
    let n = outFeatures, depth = depth
    correction.withUnsafeBufferPointer { corr in
      dequant.withUnsafeBufferPointer { scale in
        packed.withUnsafeBufferPointer { w in
          withBias { bias in
            let epilogue = qk_epilogue(
              correction: corr.baseAddress, scale: scale.baseAddress, bias: bias, activation: activation.code,
              out: out, ld_out: Int32(n), out_codes: codes, ld_codes: Int32(ldCodes), out_scale: nextMultiplier,
              out_min: nextMin)
            let box = SendableBox((a, w.baseAddress!, epilogue))
            let isaCode = Int32(isa.rawValue)
            let work = 2 * rows * n * depth
            let panels = (n + 31) / 32, rowTiles = (rows + 7) / 8
            if work < 1 << 20 || Parallel.cores == 1 {
              var e = epilogue
              qk_gemm_u8s8(isaCode, a, Int32(depth), 0, Int32(rows), Int32(depth), w.baseAddress, Int32(n), 0, Int32(n), &e)
            } else if rowTiles >= 2 * Parallel.cores || rowTiles >= panels {
              Parallel.forRanges(rowTiles, grain: 1) { r in
                var e = box.value.2
                qk_gemm_u8s8(
                  isaCode, box.value.0, Int32(depth), Int32(r.lowerBound * 8), Int32(Swift.min(rows, r.upperBound * 8)),
                  Int32(depth), box.value.1, Int32(n), 0, Int32(n), &e)
              }
            } else {
              Parallel.forRanges(panels, grain: 1) { r in
                var e = box.value.2
                qk_gemm_u8s8(
                  isaCode, box.value.0, Int32(depth), 0, Int32(rows), Int32(depth), box.value.1, Int32(n),
                  Int32(r.lowerBound * 32), Int32(Swift.min(n, r.upperBound * 32)), &e)
              }
            }
          }
        }
      }
    }
  }

  private func withBias<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let bias else { return body(nil) }
    return bias.withUnsafeBufferPointer { body($0.baseAddress) }
  }
}
