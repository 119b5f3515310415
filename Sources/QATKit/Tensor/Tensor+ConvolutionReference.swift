/// The plain convolution and pooling the fast kernels (``ConvGEMM``, ``Pool2dKernels``) are tested
/// against: an explicit im2col matrix and a matmul, and scalar pooling loops, all differentiated
/// by the tape.
extension Tensor {
  /// Reference 2-D convolution of `self [N, C, H, W]` with `weight [O, C, kh, kw]` (NCHW,
  /// cross-correlation as in PyTorch), optional `bias [O]`, equal stride and zero padding on both
  /// axes.
  package func conv2dReference(_ weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
    precondition(rank == 4 && weight.rank == 4, "conv2d: input \(shape) and weight \(weight.shape) must be rank 4")
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    precondition(weight.shape[1] == c, "conv2d: input has \(c) channels, weight expects \(weight.shape[1])")
    precondition(stride >= 1 && padding >= 0, "conv2d: stride \(stride), padding \(padding)")
    let ho = (h + 2 * padding - kh) / stride + 1, wo = (w + 2 * padding - kw) / stride + 1
    precondition(ho > 0 && wo > 0, "conv2d: kernel \(kh)x\(kw) larger than padded input \(h)x\(w)")
    let cols = im2col(kh: kh, kw: kw, stride: stride, padding: padding, ho: ho, wo: wo)  // [N, L, C·kh·kw]
    var y = Tensor.matmul(cols, transposed: weight.reshapedUnchecked([o, c * kh * kw]))  // [N, L, O]
    if let bias { y = y + bias }
    return y.transposed(1, 2).reshapedUnchecked([n, o, ho, wo])
  }

  /// Unfolds patches: `[N, C, H, W]` → `[N, Ho·Wo, C·kh·kw]`; the backward folds them back.
  private func im2col(kh: Int, kw: Int, stride: Int, padding: Int, ho: Int, wo: Int) -> Tensor {
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    let l = ho * wo, ckk = c * kh * kw
    // index map: for each (patch position, column) the source offset within one image, or -1.
    var src = [Int](repeating: -1, count: l * ckk)
    for oy in 0..<ho {
      for ox in 0..<wo {
        let row = (oy * wo + ox) * ckk
        for ci in 0..<c {
          for ky in 0..<kh {
            let iy = oy * stride + ky - padding
            guard iy >= 0 && iy < h else { continue }
            for kx in 0..<kw {
              let ix = ox * stride + kx - padding
              guard ix >= 0 && ix < w else { continue }
              src[row + (ci * kh + ky) * kw + kx] = (ci * h + iy) * w + ix
            }
          }
        }
      }
    }
    let image = c * h * w
    var out = [Float](repeating: 0, count: n * l * ckk)
    storage.withUnsafeBufferPointer { p in
      for b in 0..<n {
        let base = b * image, ob = b * l * ckk
        for j in 0..<(l * ckk) where src[j] >= 0 { out[ob + j] = p[base + src[j]] }
      }
    }
    let x = self
    return Tensor(shape: [n, l, ckk], storage: out).recording("im2col", inputs: [x]) { g in
      var gx = [Float](repeating: 0, count: x.count)
      for b in 0..<n {
        let base = b * image, ob = b * l * ckk
        for j in 0..<(l * ckk) where src[j] >= 0 { gx[base + src[j]] += g.storage[ob + j] }
      }
      return [Tensor(shape: x.shape, storage: gx)]
    }
  }

  /// Reference max pooling over `kernel × kernel` windows of `[N, C, H, W]`: the first maximum
  /// of a window (scan order) wins and takes the gradient; NaN never wins.
  package func maxPool2dReference(kernel: Int, stride: Int? = nil) -> Tensor {
    pool(kernel: kernel, stride: stride ?? kernel, max: true)
  }

  /// Reference average pooling over `kernel × kernel` windows of `[N, C, H, W]`.
  package func avgPool2dReference(kernel: Int, stride: Int? = nil) -> Tensor {
    pool(kernel: kernel, stride: stride ?? kernel, max: false)
  }

  private func pool(kernel k: Int, stride s: Int, max useMax: Bool) -> Tensor {
    precondition(rank == 4, "pool2d: input must be [N, C, H, W], got \(shape)")
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    precondition(k >= 1 && s >= 1 && k <= h && k <= w, "pool2d: kernel \(k) stride \(s) on \(h)x\(w)")
    let ho = (h - k) / s + 1, wo = (w - k) / s + 1
    var out = [Float](repeating: 0, count: n * c * ho * wo)
    var arg = [Int](repeating: 0, count: useMax ? out.count : 0)
    let inv = 1 / Float(k * k)
    storage.withUnsafeBufferPointer { p in
      for plane in 0..<(n * c) {
        let ib = plane * h * w, ob = plane * ho * wo
        for oy in 0..<ho {
          for ox in 0..<wo {
            var best = -Float.infinity, bi = ib + oy * s * w + ox * s, acc: Float = 0
            for ky in 0..<k {
              for kx in 0..<k {
                let idx = ib + (oy * s + ky) * w + ox * s + kx
                let v = p[idx]
                if v > best { best = v; bi = idx }
                acc += v
              }
            }
            let o = ob + oy * wo + ox
            if useMax { out[o] = best; arg[o] = bi } else { out[o] = acc * inv }
          }
        }
      }
    }
    let x = self
    return Tensor(shape: [n, c, ho, wo], storage: out).recording(useMax ? "maxPool2d" : "avgPool2d", inputs: [x]) { g in
      var gx = [Float](repeating: 0, count: x.count)
      if useMax {
        for (o, src) in arg.enumerated() { gx[src] += g.storage[o] }
      } else {
        for plane in 0..<(n * c) {
          let ib = plane * h * w, ob = plane * ho * wo
          for oy in 0..<ho {
            for ox in 0..<wo {
              let gv = g.storage[ob + oy * wo + ox] * inv
              for ky in 0..<k { for kx in 0..<k { gx[ib + (oy * s + ky) * w + ox * s + kx] += gv } }
            }
          }
        }
      }
      return [Tensor(shape: x.shape, storage: gx)]
    }
  }
}
