import QATKit

/// Finite-difference verification of autodiff gradients.
///
/// The output of `f` (any shape) is reduced to the scalar `L = Σ f(x) · R` with a fixed random
/// projection `R`, so every output element takes part. The analytic gradient of `L` (from
/// ``Tensor/backward(_:)``) is compared with the central difference
/// `(L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h` for every element of every input, with `L` accumulated in
/// `Double`. An element passes when `|analytic − numeric| <= atol + rtol·|numeric|`.
public enum GradientCheck {
  /// One element whose analytic and numeric gradients disagree.
  public struct Mismatch: CustomStringConvertible, Sendable {
    /// Which input (index into the checked tensors).
    public let input: Int
    /// Element index in row-major order.
    public let element: Int
    /// The autodiff gradient.
    public let analytic: Float
    /// The central-difference estimate.
    public let numeric: Float
    /// A short line for failure messages.
    public var description: String {
      "input \(input)[\(element)]: autodiff \(analytic), finite difference \(numeric)"
    }
  }

  /// The outcome of a check.
  public struct Report: CustomStringConvertible, Sendable {
    /// Every failing element.
    public let mismatches: [Mismatch]
    /// The number of elements compared.
    public let checked: Int
    /// Largest `|analytic − numeric|` over all elements.
    public let maxError: Float
    /// Whether all elements passed (and at least one was checked).
    public var passed: Bool { mismatches.isEmpty && checked > 0 }
    /// A summary with the first few mismatches.
    public var description: String {
      let head = mismatches.prefix(6).map(\.description).joined(separator: "; ")
      return "\(checked) elements, \(mismatches.count) mismatches, max error \(maxError)" + (head.isEmpty ? "" : ": \(head)")
    }
  }

  /// Checks the gradients of `f` with respect to `inputs`, which `f` reads (for example the
  /// parameters of a module it calls). The inputs are perturbed in place and restored.
  ///
  /// - Parameters:
  ///   - inputs: Tensors to differentiate; `requiresGrad` is switched on.
  ///   - h: Finite-difference step.
  ///   - atol: Absolute tolerance.
  ///   - rtol: Tolerance relative to the numeric gradient.
  ///   - seed: Seed of the projection `R`.
  ///   - f: The function under test.
  public static func check(
    _ inputs: [Tensor], h: Float = 1e-2, atol: Float = 1e-3, rtol: Float = 1e-2, seed: UInt64 = 7,
    _ f: () -> Tensor
  ) -> Report {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    let y = f()
    var rng = RandomGenerator(seed: seed)
    let r = Tensor.uniform(y.shape, low: -1, high: 1, using: &rng)
    (y * r).sum().backward()
    let projection = r.scalars.map(Double.init)

    func objective() -> Double {
      let out = Tensor.withoutGrad { f() }
      precondition(out.shape == y.shape, "GradientCheck: output shape changed from \(y.shape) to \(out.shape)")
      return zip(out.scalars, projection).reduce(0) { $0 + Double($1.0) * $1.1 }
    }

    var mismatches: [Mismatch] = []
    var checked = 0
    var maxError: Float = 0
    for (k, x) in inputs.enumerated() {
      let analytic = x.grad?.scalars ?? [Float](repeating: 0, count: x.count)
      for i in 0..<x.count {
        let original = x.withUnsafeBufferPointer { $0[i] }
        x.withUnsafeMutableBufferPointer { $0[i] = original + h }
        let plus = objective()
        x.withUnsafeMutableBufferPointer { $0[i] = original - h }
        let minus = objective()
        x.withUnsafeMutableBufferPointer { $0[i] = original }
        // Divide by the step actually taken in Float.
        let step = Double(original + h) - Double(original - h)
        let numeric = Float((plus - minus) / step)
        let error = Swift.abs(analytic[i] - numeric)
        maxError = Swift.max(maxError, error)
        checked += 1
        if !(error <= atol + rtol * Swift.abs(numeric)) {
          mismatches.append(Mismatch(input: k, element: i, analytic: analytic[i], numeric: numeric))
        }
      }
    }
    for x in inputs { x.grad = nil }
    return Report(mismatches: mismatches, checked: checked, maxError: maxError)
  }

  /// Checks the gradients of `f` applied to `inputs` (see ``check(_:h:atol:rtol:seed:_:)``).
  public static func check(
    _ inputs: [Tensor], h: Float = 1e-2, atol: Float = 1e-3, rtol: Float = 1e-2, seed: UInt64 = 7,
    of f: ([Tensor]) -> Tensor
  ) -> Report {
    check(inputs, h: h, atol: atol, rtol: rtol, seed: seed) { f(inputs) }
  }

  /// Seeded values in about `[-scale, scale]` whose magnitudes are at least `margin` and whose
  /// pairwise gaps are at least `margin`: safe sample points for ops with kinks at 0 or at ties
  /// (relu, abs, max, pooling) when the finite-difference step is below `margin / 2`.
  public static func separatedValues(
    _ shape: [Int], scale: Float = 2, margin: Float = 0.05, seed: UInt64 = 1
  ) -> Tensor {
    let n = shape.reduce(1, *)
    var rng = RandomGenerator(seed: seed)
    let order = rng.permutation(n)
    // Evenly spaced levels (distinct by at least `spacing`), shuffled, with 0 skipped.
    let spacing = Swift.max(margin, 2 * scale / Float(Swift.max(n, 1)))
    var values = [Float](repeating: 0, count: n)
    for (i, rank) in order.enumerated() {
      let level = Float(rank) - Float(n) / 2 + 0.5
      values[i] = level * spacing
    }
    return try! Tensor(values, shape: shape)
  }

  /// Seeded normal values (`std` 1) for smooth ops.
  public static func randn(_ shape: [Int], seed: UInt64 = 1, std: Float = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.randn(shape, std: std, using: &rng)
  }

  /// Seeded uniform values in `[low, high)`.
  public static func uniform(_ shape: [Int], low: Float, high: Float, seed: UInt64 = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, using: &rng)
  }
}
