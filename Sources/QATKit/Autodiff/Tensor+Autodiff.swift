/// Gradient recording switch, scoped per task/thread.
enum GradMode {
  @TaskLocal static var disabled = false
}

extension Tensor {
  /// Whether operations currently record gradients.
  public static var isGradEnabled: Bool { !GradMode.disabled }

  /// Runs `body` without recording operations (evaluation, calibration, optimizer updates).
  public static func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$disabled.withValue(true, operation: body)
  }

  /// Attaches a backward function to an output computed from `inputs`.
  ///
  /// This is the public way to define an operation with its own gradient, for example a
  /// straight-through estimator: compute `output` with any kernel, then call
  /// `output.recording(...)`. Nothing is recorded when no input requires a gradient or
  /// recording is disabled.
  ///
  /// - Parameters:
  ///   - name: A name for diagnostics.
  ///   - inputs: The tensors the output depends on.
  ///   - backward: Given the gradient of `self`, the gradient of each input, in order, with
  ///     the input's shape (`nil` when an input gets none).
  /// - Returns: `self`, now part of the graph.
  @discardableResult
  public func recording(
    _ name: String, inputs: [Tensor], backward: @escaping (_ gradOutput: Tensor) -> [Tensor?]
  ) -> Tensor {
    guard Tensor.isGradEnabled, inputs.contains(where: { $0.requiresGrad }) else { return self }
    requiresGrad = true
    gradFn = GradFn(name: name, inputs: inputs, backward: backward)
    return self
  }

  /// Back-propagates from this tensor, accumulating into ``grad`` of every leaf that requires
  /// a gradient.
  ///
  /// As in PyTorch, the recorded graph is released afterwards (intermediate results and
  /// closures are freed); pass `retainGraph: true` to back-propagate through it again.
  ///
  /// - Parameters:
  ///   - gradient: The gradient of the final objective with respect to this tensor;
  ///     defaults to 1, which requires a one-element tensor.
  ///   - retainGraph: Keep the graph for another `backward`.
  public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
    let seed = gradient ?? Tensor(shape: shape, storage: [Float](repeating: 1, count: count))
    precondition(
      gradient != nil || count == 1,
      "backward() without a gradient needs a scalar, not shape \(shape)")
    precondition(seed.shape == shape, "backward: gradient shape \(seed.shape) != \(shape)")
    guard requiresGrad else { return }

    // Iterative post-order DFS gives a topological order of the recorded graph.
    var order: [Tensor] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Tensor, Bool)] = [(self, false)]
    while let (t, expanded) = stack.popLast() {
      if expanded { order.append(t); continue }
      guard visited.insert(ObjectIdentifier(t)).inserted else { continue }
      stack.append((t, true))
      if let fn = t.gradFn {
        for input in fn.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
          stack.append((input, false))
        }
      }
    }

    var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
    var owned = Set<ObjectIdentifier>()
    Tensor.withoutGrad {
      for t in order.reversed() {
        guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
        guard let fn = t.gradFn else {
          if let existing = t.grad { existing.addInPlace(g) } else { t.grad = g.detach() }
          continue
        }
        let inputGrads = fn.backward(g)
        if !retainGraph { t.gradFn = nil }
        for (input, ig) in zip(fn.inputs, inputGrads) {
          guard input.requiresGrad, let ig else { continue }
          precondition(
            ig.shape == input.shape,
            "backward of \(fn.name): gradient shape \(ig.shape) != input shape \(input.shape)")
          let key = ObjectIdentifier(input)
          if let acc = grads[key] {
            // A backward may hand the same tensor to several inputs: only mutate our own sums.
            if owned.contains(key) {
              acc.addInPlace(ig)
            } else {
              let sum = acc.copy()
              sum.addInPlace(ig)
              grads[key] = sum
              owned.insert(key)
            }
          } else {
            grads[key] = ig
          }
        }
      }
    }
  }

  /// Clears ``grad``.
  public func zeroGrad() { grad = nil }

  /// Whether this tensor was produced by a recorded operation.
  public var isLeaf: Bool { gradFn == nil }
}
