extension Tensor {
  /// 2-D convolution of `self [N, C, H, W]` with `weight [O, C, kh, kw]` (NCHW, cross-
  /// correlation as in PyTorch), optional `bias [O]`, equal stride and zero padding on both axes.
  ///
  /// Runs as a packed GEMM that reads its patches straight from the image (no im2col matrix);
  /// the input and weight gradients are GEMMs of the same kind (see `ConvGEMM`).
  public func conv2d(_ weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
    precondition(rank == 4 && weight.rank == 4, "conv2d: input \(shape) and weight \(weight.shape) must be rank 4")
    precondition(weight.shape[1] == shape[1], "conv2d: input has \(shape[1]) channels, weight expects \(weight.shape[1])")
    precondition(stride >= 1 && padding >= 0, "conv2d: stride \(stride), padding \(padding)")
    let (h, w, kh, kw) = (shape[2], shape[3], weight.shape[2], weight.shape[3])
    precondition(
      h + 2 * padding >= kh && w + 2 * padding >= kw, "conv2d: kernel \(kh)x\(kw) larger than padded input \(h)x\(w)")
    if let bias {
      precondition(bias.shape == [weight.shape[0]], "conv2d: bias \(bias.shape) for \(weight.shape[0]) output channels")
    }
    let g = ConvGeometry(input: shape, weight: weight.shape, stride: stride, padding: padding)
    let x = self
    let y = [Float](unsafeUninitializedCapacity: g.outputShape.reduce(1, *)) { out, initialized in
      initialized = out.count
      guard let o = out.baseAddress else { return }
      x.storage.withUnsafeBufferPointer { px in
        weight.storage.withUnsafeBufferPointer { pw in
          if let bias {
            bias.storage.withUnsafeBufferPointer { pb in
              ConvGEMM.forward(base(px), weight: base(pw), bias: pb.baseAddress, o, geometry: g)
            }
          } else {
            ConvGEMM.forward(base(px), weight: base(pw), bias: nil, o, geometry: g)
          }
        }
      }
    }
    var inputs = [x, weight]
    if let bias { inputs.append(bias) }
    return Tensor(shape: g.outputShape, storage: y).recording("conv2d", inputs: inputs) { gy in
      var grads: [Tensor?] = [nil, nil]
      gy.storage.withUnsafeBufferPointer { pg in
        if x.requiresGrad {
          grads[0] = Tensor(shape: x.shape, storage: [Float](unsafeUninitializedCapacity: x.count) { out, n in
            weight.storage.withUnsafeBufferPointer { pw in
              if let o = out.baseAddress { ConvGEMM.inputGradient(base(pg), weight: base(pw), o, geometry: g) }
            }
            n = out.count
          })
        }
        // The bias gradient comes out of the weight gradient's pass over dY when both are needed.
        let biasCount = bias?.requiresGrad == true ? g.outChannels : 0
        var db = [Float](unsafeUninitializedCapacity: biasCount) { _, n in n = biasCount }
        if weight.requiresGrad {
          grads[1] = Tensor(shape: weight.shape, storage: [Float](unsafeUninitializedCapacity: weight.count) { out, n in
            x.storage.withUnsafeBufferPointer { px in
              db.withUnsafeMutableBufferPointer { pdb in
                if let o = out.baseAddress {
                  ConvGEMM.weightGradient(
                    base(pg), input: base(px), o, bias: biasCount > 0 ? pdb.baseAddress : nil, geometry: g)
                }
              }
            }
            n = out.count
          })
        } else if biasCount > 0 {
          db.withUnsafeMutableBufferPointer { pdb in ConvGEMM.biasGradient(base(pg), pdb.baseAddress!, geometry: g) }
        }
        if let bias { grads.append(biasCount > 0 ? Tensor(shape: bias.shape, storage: db) : nil) }
      }
      return grads
    }
  }

  /// Max pooling over `kernel × kernel` windows of `[N, C, H, W]` (stride defaults to kernel).
  /// The first maximum of a window (in scan order) takes the gradient; NaN is skipped.
  public func maxPool2d(kernel: Int, stride: Int? = nil) -> Tensor {
    maxPool(kernel: kernel, stride: stride, relu: false)
  }

  /// `relu().maxPool2d(kernel:stride:)` in one pass: ReLU commutes with the maximum, so the
  /// window maxima are taken first and only they go through the ReLU (no ReLU pass over the
  /// larger input, forward or backward). Values equal `relu().maxPool2d()` (a non-positive
  /// window gives `+0.0`) and so do gradients, for finite inputs.
  public func reluMaxPool2d(kernel: Int, stride: Int? = nil) -> Tensor {
    maxPool(kernel: kernel, stride: stride, relu: true)
  }

  private func maxPool(kernel: Int, stride: Int?, relu: Bool) -> Tensor {
    let g = poolGeometry(kernel: kernel, stride: stride ?? kernel)
    guard kernel <= 255 else {
      return relu ? self.relu().maxPool2dReference(kernel: kernel, stride: stride)
        : maxPool2dReference(kernel: kernel, stride: stride)
    }
    let outShape = [shape[0], shape[1], g.ho, g.wo]
    let n = outShape.reduce(1, *)
    var index = [UInt16](unsafeUninitializedCapacity: n) { _, c in c = n }
    let y = [Float](unsafeUninitializedCapacity: n) { out, c in
      storage.withUnsafeBufferPointer { px in
        index.withUnsafeMutableBufferPointer { pi in
          if let o = out.baseAddress, let i = pi.baseAddress { Pool2dKernels.maxForward(base(px), o, index: i, g, relu: relu) }
        }
      }
      c = n
    }
    let x = self
    return Tensor(shape: outShape, storage: y).recording(relu ? "reluMaxPool2d" : "maxPool2d", inputs: [x]) { gy in
      let gx = [Float](unsafeUninitializedCapacity: x.count) { out, c in
        gy.storage.withUnsafeBufferPointer { pg in
          index.withUnsafeBufferPointer { pi in
            if let o = out.baseAddress, let i = pi.baseAddress { Pool2dKernels.maxBackward(base(pg), index: i, o, g) }
          }
        }
        c = x.count
      }
      return [Tensor(shape: x.shape, storage: gx)]
    }
  }

  /// Average pooling over `kernel × kernel` windows of `[N, C, H, W]` (stride defaults to kernel).
  public func avgPool2d(kernel: Int, stride: Int? = nil) -> Tensor {
    let g = poolGeometry(kernel: kernel, stride: stride ?? kernel)
    let outShape = [shape[0], shape[1], g.ho, g.wo]
    let n = outShape.reduce(1, *)
    let y = [Float](unsafeUninitializedCapacity: n) { out, c in
      storage.withUnsafeBufferPointer { px in
        if let o = out.baseAddress { Pool2dKernels.avgForward(base(px), o, g) }
      }
      c = n
    }
    let x = self
    return Tensor(shape: outShape, storage: y).recording("avgPool2d", inputs: [x]) { gy in
      let gx = [Float](unsafeUninitializedCapacity: x.count) { out, c in
        gy.storage.withUnsafeBufferPointer { pg in
          if let o = out.baseAddress { Pool2dKernels.avgBackward(base(pg), o, g) }
        }
        c = x.count
      }
      return [Tensor(shape: x.shape, storage: gx)]
    }
  }

  private func poolGeometry(kernel k: Int, stride s: Int) -> Pool2dGeometry {
    precondition(rank == 4, "pool2d: input must be [N, C, H, W], got \(shape)")
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    precondition(k >= 1 && s >= 1 && k <= h && k <= w, "pool2d: kernel \(k) stride \(s) on \(h)x\(w)")
    return Pool2dGeometry(planes: n * c, h: h, w: w, k: k, s: s)
  }
}

/// The base address of a buffer that the kernel only reads when it is non-empty.
@inline(__always)
private func base(_ p: UnsafeBufferPointer<Float>) -> UnsafePointer<Float> {
  p.baseAddress ?? UnsafePointer(bitPattern: MemoryLayout<Float>.alignment)!
}
