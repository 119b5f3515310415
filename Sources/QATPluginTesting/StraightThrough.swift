import QATKit

/// Values frozen at the point where a gradient is checked: the finite-difference counterpart
/// of a stop-gradient.
///
/// A straight-through estimator is the gradient of a *surrogate* of the forward pass in
/// which some quantities are treated as constants: the rounding error `round(v) − v`, a
/// threshold mask, a gradient-scale correction. Finite differences see those quantities
/// change (or jump), so a surrogate written for ``GradientCheck/straightThrough(_:input:surrogate:h:atol:rtol:seed:)``
/// wraps them in ``detach(_:)``: at the check point it records each value, at every
/// perturbed point it returns the recorded one. Call the functions in the same order on
/// every evaluation (a plain loop does).
public final class FrozenOps {
  private var recorded: [Double] = []
  private var cursor = 0
  private var recording = true

  init() {}

  /// `v` at the check point; the same constant at every perturbed point.
  public func detach(_ v: Double) -> Double {
    if recording {
      recorded.append(v)
      return v
    }
    precondition(cursor < recorded.count, "FrozenOps: the surrogate called detach/round more often than at the check point")
    defer { cursor += 1 }
    return recorded[cursor]
  }

  /// Round half to even with a straight-through derivative: `v + detach(round(v) − v)`
  /// (value `round(v)`, derivative 1).
  public func round(_ v: Double) -> Double { v + detach(v.rounded(.toNearestOrEven) - v) }

  /// `min(max(v, lo), hi)`: derivative 1 inside, 0 outside (the clipping STE).
  public func clamp(_ v: Double, _ lo: Double, _ hi: Double) -> Double { Swift.min(Swift.max(v, lo), hi) }

  func replay() {
    recording = false
    cursor = 0
  }
}

/// A quantizer's forward pass in `Double`, written so that its derivative is the
/// straight-through estimator the quantizer implements (see ``FrozenOps``).
///
/// ```swift
/// // LSQ per tensor: y = clamp(round(x / s), lo, hi) · s, s = amax / maxBound.
/// let surrogate = STESurrogate { input, frozen in
///   let s = input.state["_amax"]![0] / 7
///   return input.x.map { frozen.clamp(frozen.round($0 / s), -8, 7) * s }
/// }
/// ```
public struct STESurrogate: Sendable {
  /// What the surrogate sees: the input, its shape, the quantizer's state by name and its
  /// attributes.
  public struct Input: Sendable {
    /// The input values, row-major.
    public let x: [Double]
    /// The input shape.
    public let shape: [Int]
    /// Every state tensor of the quantizer (``Quantizer/stateTensors()``) by name.
    public let state: [String: [Double]]
    /// The quantizer's attributes.
    public let attributes: QuantizerAttributes
    /// The range groups of the input (``GroupLayout``).
    public var layout: GroupLayout { GroupLayout(attributes.granularity, shape: shape) }
  }

  /// The surrogate forward.
  public let forward: @Sendable (Input, FrozenOps) -> [Double]

  /// Wraps a surrogate forward.
  public init(_ forward: @escaping @Sendable (Input, FrozenOps) -> [Double]) { self.forward = forward }
}

extension GradientCheck {
  /// The outcome of ``straightThrough(_:input:surrogate:h:atol:rtol:seed:)``.
  public struct StraightThroughReport: CustomStringConvertible, Sendable {
    /// Largest `|quantizer(x) − surrogate(x)|` at the check point.
    public let maxValueError: Float
    /// Output elements where the quantizer and its surrogate disagree.
    public let valueMismatches: Int
    /// The gradient comparison: input 0 is `x`, then the learnable tensors in the order of
    /// ``Quantizer/learnableParameters()``.
    public let gradients: Report

    /// Whether values agree and every gradient element passed.
    public var passed: Bool { valueMismatches == 0 && gradients.passed }

    /// A summary.
    public var description: String {
      "values: \(valueMismatches) mismatches (max error \(maxValueError)); gradients: \(gradients)"
    }
  }

  /// Checks a quantizer's recorded backward (gradients to `x` and to every learnable tensor)
  /// against central finite differences of its straight-through surrogate, in `Double`.
  ///
  /// The surrogate must reproduce the quantizer's output at `x` (checked); its derivative is
  /// what the straight-through estimator claims. Learnable tensors must be state tensors of
  /// the same name. The quantizer must be ready (calibrated or restored) and enabled.
  ///
  /// - Parameters:
  ///   - quantizer: The quantizer under test.
  ///   - x: The input; `requiresGrad` is switched on.
  ///   - surrogate: The quantizer's forward with frozen ops.
  ///   - h: Finite-difference step (in `Double`, so it can be small enough to miss kinks).
  ///   - atol: Absolute tolerance on gradients and values.
  ///   - rtol: Relative tolerance on gradients and values.
  ///   - seed: Seed of the random projection of the output.
  public static func straightThrough(
    _ quantizer: any Quantizer, input x: Tensor, surrogate: STESurrogate, h: Double = 1e-5,
    atol: Float = 1e-3, rtol: Float = 1e-3, seed: UInt64 = 7
  ) -> StraightThroughReport {
    let learned = quantizer.learnableParameters()
    x.requiresGrad = true
    x.grad = nil
    for (_, t) in learned {
      t.requiresGrad = true
      t.grad = nil
    }
    let y = quantizer(x)
    var rng = RandomGenerator(seed: seed)
    let r = Tensor.uniform(y.shape, low: -1, high: 1, using: &rng)
    (y * r).sum().backward()
    let projection = r.scalars.map(Double.init)
    let yValues = y.scalars

    let state0 = Dictionary(quantizer.stateTensors().map { ($0.0, $0.1.scalars.map(Double.init)) }, uniquingKeysWith: { a, _ in a })
    let x0 = x.scalars.map(Double.init)
    let frozen = FrozenOps()
    let base = surrogate.forward(STESurrogate.Input(x: x0, shape: x.shape, state: state0, attributes: quantizer.attributes), frozen)
    frozen.replay()
    var maxValueError: Float = 0
    var valueMismatches = base.count == yValues.count ? 0 : Swift.max(1, yValues.count)
    if base.count == yValues.count {
      for (a, b) in zip(yValues, base) {
        let e = Swift.abs(a - Float(b))
        maxValueError = Swift.max(maxValueError, e)
        if !(e <= atol + rtol * Swift.abs(Float(b))) { valueMismatches += 1 }
      }
    }

    let shape = x.shape
    func objective(x values: [Double], state: [String: [Double]]) -> Double {
      frozen.replay()
      let out = surrogate.forward(STESurrogate.Input(x: values, shape: shape, state: state, attributes: quantizer.attributes), frozen)
      return zip(out, projection).reduce(0) { $0 + $1.0 * $1.1 }
    }

    var mismatches: [Mismatch] = []
    var checked = 0
    var maxError: Float = 0
    func compare(_ input: Int, _ element: Int, analytic: Float, plus: Double, minus: Double) {
      let numeric = Float((plus - minus) / (2 * h))
      let error = Swift.abs(analytic - numeric)
      maxError = Swift.max(maxError, error)
      checked += 1
      if !(error <= atol + rtol * Swift.abs(numeric)) {
        mismatches.append(Mismatch(input: input, element: element, analytic: analytic, numeric: numeric))
      }
    }
    let gx = x.grad?.scalars ?? [Float](repeating: 0, count: x.count)
    for i in 0..<x0.count {
      var xp = x0, xm = x0
      xp[i] += h
      xm[i] -= h
      compare(0, i, analytic: gx[i], plus: objective(x: xp, state: state0), minus: objective(x: xm, state: state0))
    }
    for (k, (name, t)) in learned.enumerated() {
      let g = t.grad?.scalars ?? [Float](repeating: 0, count: t.count)
      guard let values = state0[name] else {
        mismatches.append(Mismatch(input: k + 1, element: -1, analytic: .nan, numeric: .nan))
        continue
      }
      for i in 0..<values.count {
        var sp = state0, sm = state0
        sp[name]![i] += h
        sm[name]![i] -= h
        compare(k + 1, i, analytic: g[i], plus: objective(x: x0, state: sp), minus: objective(x: x0, state: sm))
      }
    }
    x.grad = nil
    for (_, t) in learned { t.grad = nil }
    return StraightThroughReport(
      maxValueError: maxValueError, valueMismatches: valueMismatches,
      gradients: Report(mismatches: mismatches, checked: checked, maxError: maxError))
  }
}
