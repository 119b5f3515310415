extension Tensor {
  /// `x·Wᵀ + b` as one recorded operation (PyTorch's `F.linear`): `x [..., in]`, `weight
  /// [out, in]`, `bias [out]` → `[..., out]`.
  ///
  /// Same values as `Tensor.matmul(x, transposed: weight) + bias` (the bias is added to the
  /// product in place, in the same order), but the pre-bias product is never kept for the
  /// backward pass, which saves one activation per layer. Backward: `dx = g·W`, `dW = gᵀ·x`,
  /// `db = Σ_rows g` (rows summed in order, as the broadcast sum does).
  public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    precondition(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
    let (out, inFeatures) = (weight.shape[0], weight.shape[1])
    precondition(x.rank >= 1 && x.shape[x.rank - 1] == inFeatures, "linear: input \(x.shape) does not end in \(inFeatures)")
    precondition(bias.map { $0.shape == [out] } ?? true, "linear: bias \(bias?.shape ?? []) must be [\(out)]")
    let rows = inFeatures == 0 ? x.count : x.count / inFeatures
    let y = Tensor.withoutGrad { Tensor.matmul(x.rank == 1 ? x.reshapedUnchecked([1, inFeatures]) : x, transposed: weight) }
    if let bias, rows > 0, out > 0 {
      bias.storage.withUnsafeBufferPointer { pb in
        y.storage.withUnsafeMutableBufferPointer { py in
          guard let B = pb.baseAddress, let Y = py.baseAddress else { return }
          for r in 0..<rows { Elementwise.vv(AddKernel.self, Y + r * out, B, Y + r * out, out) }
        }
      }
    }
    return recordingLinear(y.storage, x: x, weight: weight, bias: bias)
  }

  /// Wraps `product` (`x·Wᵀ + b`, computed by any kernel, `rows × out` row-major) as the result of
  /// ``linear(_:weight:bias:)`` with its backward: `dx = g·W`, `dW = gᵀ·x`, `db = Σ_rows g`. The
  /// integer training path of a quantized ``Linear`` computes the product on integer codes and
  /// records the same backward on the fake-quantized `x` and `W`.
  package static func recordingLinear(_ product: [Float], x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let (out, inFeatures) = (weight.shape[0], weight.shape[1])
    let rows = inFeatures == 0 ? x.count : x.count / inFeatures
    precondition(product.count == rows * out, "linear: product has \(product.count) values, expected \(rows) x \(out)")
    let result = Tensor(shape: Array(x.shape.dropLast()) + [out], storage: product)
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    return result.recording("linear", inputs: inputs) { g in
      var grads: [Tensor?] = [nil, nil]
      g.storage.withUnsafeBufferPointer { pg in
        guard let G = pg.baseAddress, rows > 0, out > 0, inFeatures > 0 else {
          grads = [x.requiresGrad ? Tensor.zeros(x.shape) : nil, weight.requiresGrad ? Tensor.zeros(weight.shape) : nil]
          return
        }
        if x.requiresGrad {
          let dx = [Float](unsafeUninitializedCapacity: x.count) { o, n in
            weight.storage.withUnsafeBufferPointer { pw in
              GEMM.multiply(G, pw.baseAddress!, o.baseAddress!, m: rows, n: inFeatures, k: out)
            }
            n = x.count
          }
          grads[0] = Tensor(shape: x.shape, storage: dx)
        }
        if weight.requiresGrad {
          let dw = [Float](unsafeUninitializedCapacity: weight.count) { o, n in
            x.storage.withUnsafeBufferPointer { px in
              GEMM.multiply(G, px.baseAddress!, o.baseAddress!, m: out, n: inFeatures, k: rows, transposeA: true)
            }
            n = weight.count
          }
          grads[1] = Tensor(shape: weight.shape, storage: dw)
        }
      }
      if let bias {
        var db = [Float](repeating: 0, count: out)
        if bias.requiresGrad {
          g.storage.withUnsafeBufferPointer { pg in
            db.withUnsafeMutableBufferPointer { pd in
              guard let G = pg.baseAddress, let D = pd.baseAddress else { return }
              for r in 0..<rows { Elementwise.vv(AddKernel.self, D, G + r * out, D, out) }
            }
          }
        }
        grads.append(bias.requiresGrad ? Tensor(shape: bias.shape, storage: db) : nil)
      }
      return grads
    }
  }
}
