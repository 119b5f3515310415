/// The shape of a 2-D convolution: NCHW input, `[O, C, kh, kw]` weight, equal stride and zero
/// padding on both axes (PyTorch's `conv2d` with `dilation = 1`, `groups = 1`).
package struct ConvGeometry: Sendable, Equatable {
  /// Images in the batch.
  package let batch: Int
  /// Input channels.
  package let channels: Int
  /// Input height and width.
  package let height: Int, width: Int
  /// Output channels.
  package let outChannels: Int
  /// Kernel height and width.
  package let kernelH: Int, kernelW: Int
  /// Stride and zero padding (both axes).
  package let stride: Int, padding: Int
  /// Output height and width.
  package let outHeight: Int, outWidth: Int

  /// The geometry of `input [N, C, H, W]` convolved with `weight [O, C, kh, kw]`; the caller has
  /// checked ranks, channel agreement, `stride ≥ 1`, `padding ≥ 0` and a positive output size.
  package init(input: [Int], weight: [Int], stride: Int, padding: Int) {
    batch = input[0]
    channels = input[1]
    height = input[2]
    width = input[3]
    outChannels = weight[0]
    kernelH = weight[2]
    kernelW = weight[3]
    self.stride = stride
    self.padding = padding
    outHeight = (height + 2 * padding - kernelH) / stride + 1
    outWidth = (width + 2 * padding - kernelW) / stride + 1
  }

  /// Entries of one patch (`C·kh·kw`), the inner dimension of the convolution as a GEMM.
  package var patch: Int { channels * kernelH * kernelW }
  /// Output positions per image (`Ho·Wo`).
  package var positions: Int { outHeight * outWidth }
  /// The input's shape.
  package var inputShape: [Int] { [batch, channels, height, width] }
  /// The output's shape.
  package var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }
  /// The weight's shape.
  package var weightShape: [Int] { [outChannels, channels, kernelH, kernelW] }
}

/// How one stored image `[channels, srcH, srcW]` is placed into a zero-padded image
/// `[channels, hp, wp]`: source pixel `(y, x)` lands at `(top + y·dilation, left + x·dilation)`;
/// pixels that land outside are dropped.
///
/// The forward convolution pads by `padding` (dilation 1). The input gradient is the convolution of
/// the output gradient, dilated by the forward stride and padded by `k − 1 − padding`, with the
/// flipped, transposed kernel (see ``ConvGEMM/inputGradient``).
struct ImagePadding {
  let channels: Int, srcH: Int, srcW: Int
  let top: Int, left: Int, dilation: Int
  let hp: Int, wp: Int

  /// Whether the padded image is the stored image itself (nothing to copy).
  var isIdentity: Bool { top == 0 && left == 0 && dilation == 1 && hp == srcH && wp == srcW }

  /// Floats of one padded image.
  var count: Int { channels &* hp &* wp }

  /// Writes the padded image of `src` into `dst` (``count`` floats).
  func fill(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
    dst.update(repeating: 0, count: count)
    let plane = hp &* wp, srcPlane = srcH &* srcW
    // Source columns that land inside: left + x·d in 0..<wp.
    var x0 = 0
    while x0 < srcW && left &+ x0 &* dilation < 0 { x0 &+= 1 }
    var x1 = srcW
    while x1 > x0 && left &+ (x1 &- 1) &* dilation >= wp { x1 &-= 1 }
    guard x0 < x1 else { return }
    for c in 0..<channels {
      for y in 0..<srcH {
        let py = top &+ y &* dilation
        guard py >= 0 && py < hp else { continue }
        let s = src + (c &* srcPlane &+ y &* srcW)
        let d = dst + (c &* plane &+ py &* wp &+ left)
        if dilation == 1 {
          (d + x0).update(from: s + x0, count: x1 &- x0)
        } else {
          for x in x0..<x1 { d[x &* dilation] = s[x] }
        }
      }
    }
  }
}

/// The im2col matrix of one padded image, never materialized: row `r = (c, ky, kx)` (patch entry),
/// column `l = (oy, ox)` (output position), value `P[c, oy·s + ky, ox·s + kx]`.
struct Im2colPlan {
  /// Padded image channels, height and width.
  let channels: Int, hp: Int, wp: Int
  /// Kernel size and stride on the padded image.
  let kh: Int, kw: Int, stride: Int
  /// Output height and width.
  let oh: Int, ow: Int
  /// Offset in the padded image of row `r`'s first element (position 0).
  let rowOffsets: [Int]

  init(channels: Int, hp: Int, wp: Int, kh: Int, kw: Int, stride: Int, oh: Int, ow: Int) {
    self.channels = channels
    self.hp = hp
    self.wp = wp
    self.kh = kh
    self.kw = kw
    self.stride = stride
    self.oh = oh
    self.ow = ow
    var offsets = [Int]()
    offsets.reserveCapacity(channels * kh * kw)
    for c in 0..<channels {
      for ky in 0..<kh {
        for kx in 0..<kw { offsets.append((c * hp + ky) * wp + kx) }
      }
    }
    rowOffsets = offsets
  }

  /// Rows (patch entries).
  var rows: Int { rowOffsets.count }
  /// Columns (output positions).
  var positions: Int { oh &* ow }

  /// Offset in the padded image of position `l` relative to a row's first element.
  @inline(__always)
  func positionOffset(_ l: Int) -> Int {
    let oy = l / ow
    let ox = l &- oy &* ow
    return (oy &* wp &+ ox) &* stride
  }
}
