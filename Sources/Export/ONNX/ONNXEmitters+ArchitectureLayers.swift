import QATKit

extension ONNXExporter {
  /// Emitters of the layers that architecture files add (pooling modules, reshaping, the
  /// other activations, BatchNorm with running statistics, residual blocks).
  mutating func registerArchitectureLayers() {
    register(MaxPool2d.self) { p, x, ctx in ctx.pool(x, kernel: p.kernel, stride: p.stride, max: true) }
    register(AvgPool2d.self) { p, x, ctx in ctx.pool(x, kernel: p.kernel, stride: p.stride, max: false) }
    register(SiLU.self) { _, x, ctx in try ctx.activation("silu", x) }
    register(Tanh.self) { _, x, ctx in try ctx.activation("tanh", x) }
    register(Sigmoid.self) { _, x, ctx in try ctx.activation("sigmoid", x) }
    register(Reshape.self) { r, x, ctx in
      let s = ctx.shape(of: x)
      let perSample = s.flatMap { r.sampleShape(forCount: $0.dropFirst().reduce(1, *)) }
      return ctx.reshape(x, [0] + r.shape, shape: s.flatMap { sh in perSample.map { [sh[0]] + $0 } })
    }
    register(Mean.self) { m, x, ctx in
      let s = ctx.shape(of: x)
      let axis = s.map { m.axis < 0 ? m.axis + $0.count : m.axis } ?? m.axis
      return ctx.mean(x, axis: axis, shape: s.map { sh in sh.enumerated().filter { $0.offset != axis }.map(\.element) })
    }
    register(BatchNorm.self) { b, x, ctx in
      let c = b.weight.count
      return ctx.node(
        "BatchNormalization",
        [x, ctx.constant("weight", floats: b.weight.scalars, dims: [c]), ctx.constant("bias", floats: b.bias.scalars, dims: [c]),
         ctx.constant("running_mean", floats: b.runningMean.scalars, dims: [c]),
         ctx.constant("running_var", floats: b.runningVar.scalars, dims: [c])],
        [ONNXAttribute("epsilon", .float(b.eps))], shape: ctx.shape(of: x))
    }
    register(Residual.self) { r, x, ctx in
      ctx.node("Add", [x, try ctx.emit(r.body, name: "body", input: x)], shape: ctx.shape(of: x))
    }
  }
}
