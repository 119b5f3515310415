internal import CQATKitKernels

/// A `Linear` layer with INT4 weights (one range per block of inputs, ModelOpt's
/// `INT4_BLOCKWISE_WEIGHT_ONLY_CFG`) and float activations: the weights stay 4 bits in memory (an
/// eighth of FP32) and are dequantized inside the GEMM, block by block: for each output,
/// `Σ_blocks (Σ_{i ∈ block} x_i · q_i) · (amax_block / 7) + bias`.
///
/// The fake-quantized layer multiplies `x` with `q / (7 / amax_block)` in `Float`; the two agree
/// within float rounding of the sums (tested). Blocks must hold a multiple of 32 inputs.
public final class Int4WeightOnlyLinear: Sendable {
  /// Input features.
  public let inFeatures: Int
  /// Output features.
  public let outFeatures: Int
  /// Inputs per block.
  public let blockSize: Int
  /// Codes repacked by `qk_w4_pack`.
  let packed: [UInt8]
  /// `amax / 7` per output and block (`[outFeatures, inFeatures / blockSize]`).
  let factors: [Float]
  /// Bias per output, if any.
  let bias: [Float]?

  /// Creates the layer from packed INT4 codes (two per byte, first element in the low nibble, as
  /// ``QuantizedTensor`` stores them) and one range per block.
  package init(codes: [UInt8], outFeatures: Int, inFeatures: Int, blockSize: Int, blockAmax: [Float], bias: [Float]?) {
    precondition(blockSize % 32 == 0 && inFeatures % blockSize == 0 && codes.count == outFeatures * inFeatures / 2)
    precondition(blockAmax.count == outFeatures * inFeatures / blockSize)
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.blockSize = blockSize
    var packed = [UInt8](repeating: 0, count: codes.count)
    codes.withUnsafeBufferPointer { c in
      packed.withUnsafeMutableBufferPointer { p in
        qk_w4_pack(c.baseAddress, Int32(outFeatures), Int32(inFeatures), p.baseAddress)
      }
    }
    self.packed = packed
    factors = blockAmax.map { $0 > IntFakeQuant.minAmax ? $0 / 7 : 0 }
    self.bias = bias
  }

  /// Creates the layer from a quantized `Linear`: INT4 signed weights per block along the inputs
  /// (a multiple of 32), no input or output quantizer.
  ///
  /// - Throws: ``Int8InferenceError/unsupportedQuantizer(path:_:)`` naming what does not fit.
  public convenience init(_ linear: Linear, path: String = "") throws(Int8InferenceError) {
    let name = path.isEmpty ? "<root>" : path
    guard let wq = linear.quantizer(slot: "weight_quantizer"), wq.isEnabled else {
      throw .unsupportedQuantizer(path: name, "the weight is not quantized")
    }
    for slot in ["input_quantizer", "output_quantizer"] {
      if let q = linear.quantizer(slot: slot), q.isEnabled {
        throw .unsupportedQuantizer(path: name, "the \(slot) is enabled (INT4 weight-only keeps float activations)")
      }
    }
    let q: QuantizedTensor
    do {
      q = try wq.export(linear.weight)
    } catch {
      throw .unsupportedQuantizer(path: name, "weight export failed: \(error)")
    }
    guard q.format == .int(bits: 4, signed: true), !q.narrowRange, case .perBlock(let block) = q.granularity else {
      throw .unsupportedQuantizer(path: name, "weight is \(q.format) \(q.granularity) (need int4 per block)")
    }
    guard block % 32 == 0, linear.inFeatures % block == 0 else {
      throw .unsupportedQuantizer(path: name, "block size \(block) (need a multiple of 32 dividing \(linear.inFeatures))")
    }
    self.init(
      codes: q.codes, outFeatures: linear.outFeatures, inFeatures: linear.inFeatures, blockSize: block,
      blockAmax: q.amax, bias: linear.bias?.scalars)
  }

  /// `x [..., inFeatures]` → `[..., outFeatures]`, then the activation.
  public func callAsFunction(_ x: Tensor, activation: Int8Activation = .none) -> Tensor {
    callAsFunction(x, activation: activation, instructionSet: .best)
  }

  /// The same on a given instruction set (which this CPU must support).
  package func callAsFunction(_ x: Tensor, activation: Int8Activation, instructionSet isa: Int8InstructionSet) -> Tensor {
    precondition(x.rank >= 1 && x.shape.last == inFeatures, "Int4WeightOnlyLinear: input \(x.shape), expected [..., \(inFeatures)]")
    let rows = x.count / inFeatures
    let n = outFeatures, k = inFeatures, block = blockSize
    let out = [Float](unsafeUninitializedCapacity: rows * n) { o, count in
      x.storage.withUnsafeBufferPointer { xb in
        packed.withUnsafeBufferPointer { w in
          factors.withUnsafeBufferPointer { f in
            withBias { b in
              guard rows > 0, let xp = xb.baseAddress, let op = o.baseAddress else { return }
              let box = SendableBox((xp, w.baseAddress!, f.baseAddress!, b, op))
              let isaCode = Int32(isa.rawValue), act = activation.code
              let run: @Sendable (Range<Int>) -> Void = { cols in
                let (xp, wp, fp, bp, op) = box.value
                qk_gemm_f32_w4(
                  isaCode, xp, Int32(k), 0, Int32(rows), Int32(k), wp, Int32(cols.lowerBound), Int32(cols.upperBound),
                  fp, Int32(block), bp, act, op, Int32(n))
              }
              // Weights are read once per 4 rows: split the outputs (columns) across cores.
              if 2 * rows * n * k < 1 << 19 { run(0..<n) } else { Parallel.forRanges(n, grain: 8, run) }
            }
          }
        }
      }
      count = rows * n
    }
    return Tensor(shape: Array(x.shape.dropLast()) + [n], storage: out)
  }

  private func withBias<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let bias else { return body(nil) }
    return bias.withUnsafeBufferPointer { body($0.baseAddress) }
  }
}
