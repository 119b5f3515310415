import Foundation
import QATKit

/// Logarithmic quantization (Miyashita, Lee, Murmann, "Convolutional Neural Networks using
/// Logarithmic Data Representation", 2016): each value becomes `±amax · 2^−k`, so a multiply
/// by a weight is a shift.
///
/// With a `b`-bit signed integer format there are `K = 2^(b−1) − 1` magnitudes,
/// `k = 0 … K−1`: `k = clamp(round(log2(amax / |x|)), 0, K−1)`; values below the smallest level
/// by more than half an octave (`|x| < amax · 2^−(K−½)`) become 0. `amax` (one per group, any
/// granularity) comes from the configured calibrator and stays fixed. Backward: the clipped
/// straight-through estimator (`∂y/∂x = 1` where `|x| ≤ amax`, else 0).
public final class LogQuantizer: Quantizer {
  /// When `false` the quantizer is the identity.
  public var isEnabled: Bool
  /// The attributes (a signed integer format of 3 to 8 bits).
  public let attributes: QuantizerAttributes
  /// The calibrated range per group.
  public private(set) var amax: Tensor?
  /// The number of magnitudes `K`.
  public let levels: Int
  private var calibrator: (any Calibrator)?
  private var layout: GroupLayout?

  /// Builds the quantizer.
  ///
  /// - Throws: `QuantizerError.unsupportedFormat` for formats other than signed int3…int8;
  ///   `ConfigError` for attributes the core rejects or an option key (it has none).
  public init(attributes: QuantizerAttributes) throws {
    guard case .int(let bits, true) = attributes.format, bits >= 3 else {
      throw QuantizerError.unsupportedFormat(
        algorithm: "log2", format: attributes.format, reason: "log2 needs a signed int format of 3 to 8 bits")
    }
    try attributes.validate(path: "")
    _ = try attributes.decodeAlgorithmOptions(NoOptions.self)
    self.attributes = attributes
    isEnabled = attributes.enable
    levels = (1 << (bits - 1)) - 1
  }

  /// `_amax`.
  public func stateTensors() -> [(String, Tensor)] { amax.map { [("_amax", $0)] } ?? [] }

  /// Starts observing.
  public func beginCalibration(_ calibrator: any Calibrator) { self.calibrator = calibrator }

  /// Sets `amax` from the calibrator (which sees this quantizer's own rounding).
  public func endCalibration() throws {
    guard let calibrator, let layout else { throw QuantizerError.notCalibrated(path: "") }
    self.calibrator = nil
    let k = levels
    let target = CalibrationTarget(format: attributes.format) { values, a in values.map { Self.quantize($0, amax: a, levels: k) } }
    guard let ranges = try calibrator.computeAmax(for: target), ranges.count == layout.groupCount else {
      throw QuantizerError.calibrationFailed(path: "", "the calibrator returned no range per group")
    }
    amax = Tensor(ranges)
  }

  /// Creates `_amax` with the saved shape.
  public func allocateState(shapes: [String: [Int]]) throws {
    guard shapes.keys.sorted() == ["_amax"], let s = shapes["_amax"], s.count == 1 else {
      throw QuantizerError.stateMismatch("log2 expects state {_amax: [groups]}, got \(shapes)")
    }
    amax = Tensor.full(s, 1)
  }

  /// One value on the power-of-two grid below `amax`.
  static func quantize(_ x: Float, amax: Float, levels: Int) -> Float {
    let a = Swift.abs(x)
    guard amax > 0, a > 0, x.isFinite else { return x.isFinite ? 0 : x }
    let k = log2(amax / a).rounded(.toNearestOrEven)
    if k > Float(levels - 1) + 0.5 { return 0 }
    let e = Swift.min(Swift.max(k, 0), Float(levels - 1))
    return (x < 0 ? -amax : amax) * Float(sign: .plus, exponent: -Int(e), significand: 1)
  }

  /// Quantizes (or observes while calibrating).
  public func callAsFunction(_ x: Tensor) -> Tensor {
    precondition(GroupLayout.fits(attributes.granularity, shape: x.shape), "log2: \(attributes.granularity) does not fit \(x.shape)")
    let layout = GroupLayout(attributes.granularity, shape: x.shape)
    self.layout = layout
    if let calibrator {
      calibrator.collect(layout.batch(x.scalars))
      return x
    }
    guard isEnabled, let amax else { return x }
    let ranges = amax.scalars, k = levels, n = x.count
    var inside = [Bool](repeating: false, count: n)
    // The shape is x's own, so creating the output cannot fail.
    let y = x.withUnsafeBufferPointer { input in
      try! Tensor(shape: x.shape) { out in
        var groups = layout.groups.makeIterator()
        for i in 0..<n {
          let a = ranges[groups.next()!]
          out[i] = Self.quantize(input[i], amax: a, levels: k)
          inside[i] = Swift.abs(input[i]) <= a
        }
      }
    }
    let mask = inside, shape = x.shape
    return y.recording("log2", inputs: [x]) { gradient in
      [gradient.withUnsafeBufferPointer { g in try! Tensor(shape: shape) { out in for i in 0..<n { out[i] = mask[i] ? g[i] : 0 } } }]
    }
  }
}
