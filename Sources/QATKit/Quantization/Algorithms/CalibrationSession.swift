/// What a ``CalibrationAlgorithm`` works with: the model with its newly inserted quantizers,
/// the calibration forward loop, the ranks of a data-parallel job, and the operations every
/// algorithm needs — standard calibration, forward passes that observe the inputs of `Linear`
/// layers, `pre_quant_scale` factors, scale folding and collective reductions.
///
/// Everything an algorithm changes through the session (or in parameters) is undone by
/// `convert` if the conversion fails.
public final class CalibrationSession {
  /// A quantizer the `quantize` mode inserted.
  public struct Entry {
    /// Its path (`fc1.weight_quantizer`).
    public let path: String
    /// The layer holding it.
    public let module: Module
    /// The slot (`weight_quantizer`).
    public let slot: String
    /// The quantizer.
    public let quantizer: any Quantizer
    /// The parameter a weight quantizer reads (`nil` for activation quantizers).
    public let parameter: Tensor?
  }

  /// A `Linear` layer whose weight quantizer this session calibrates (enabled).
  public struct LinearLayer {
    /// Module path (`fc2`).
    public let path: String
    /// The layer.
    public let layer: Linear
    /// Its weight quantizer.
    public let weightQuantizer: any Quantizer
  }

  /// Where ``runForwardLoop(quantized:observing:point:_:)`` observes a layer's input.
  public enum ObservationPoint: Sendable {
    /// The input as the layer receives it, before its input quantizer and `pre_quant_scale`.
    case raw
    /// What the layer multiplies with its weight: after the `pre_quant_scale` and, when enabled,
    /// the input quantizer.
    case quantized
  }

  /// The model being converted.
  public let model: Module
  /// The calibration loop (`nil` when none was given).
  public let forwardLoop: ((Module) throws -> Void)?
  /// The ranks of a data-parallel job (`nil` or one rank: a single process). Each rank's
  /// forward loop feeds its own shard; statistics must be combined with ``allReduce(_:_:)``
  /// before they decide anything, so every rank makes the same changes.
  public let communicator: (any Communicator)?
  /// The quantizers the mode inserted, in model order.
  public let quantizers: [Entry]

  private let calibrateBody: (_ weights: Bool, _ activations: Bool) throws -> Void
  /// Quantizers the algorithm put into empty slots (`pre_quant_scale` carriers), by path.
  package private(set) var installed: [String: (Module, String)] = [:]

  /// Creates a session (the `quantize` mode does).
  package init(
    model: Module, forwardLoop: ((Module) throws -> Void)?, communicator: (any Communicator)?, quantizers: [Entry],
    calibrate: @escaping (_ weights: Bool, _ activations: Bool) throws -> Void
  ) {
    self.model = model
    self.forwardLoop = forwardLoop
    self.communicator = communicator
    self.quantizers = quantizers
    calibrateBody = calibrate
  }

  /// Whether more than one rank takes part.
  public var isDistributed: Bool { (communicator?.size ?? 1) > 1 }

  // MARK: Calibration

  /// Calibrates the session's quantizers as the `quantize` mode does without an algorithm:
  /// weight quantizers from their (current) parameters, activation quantizers over the forward
  /// loop (every other quantizer of the session disabled, statistics combined across ranks).
  ///
  /// - Parameters:
  ///   - weights: Calibrate the weight quantizers.
  ///   - activations: Calibrate the activation quantizers (needs the forward loop when any is
  ///     static).
  /// - Throws: ``QuantizerError`` from calibration.
  public func calibrate(weights: Bool = true, activations: Bool = true) throws {
    try calibrateBody(weights, activations)
  }

  // MARK: Layers

  /// The `Linear` layers (any subclass) whose enabled weight quantizer this session inserted, in
  /// model order.
  public func linearLayers() -> [LinearLayer] {
    quantizers.compactMap { e in
      guard let l = e.module as? Linear, e.slot == "weight_quantizer", e.quantizer.isEnabled else { return nil }
      let path = e.path.hasSuffix(".weight_quantizer") ? String(e.path.dropLast(".weight_quantizer".count)) : ""
      return LinearLayer(path: path, layer: l, weightQuantizer: e.quantizer)
    }
  }

  // MARK: Forward passes

  /// Runs the forward loop once (evaluation mode, no gradients) and hands `observe` the input of
  /// each layer in `layers` at every call, with the layer's index in `layers`.
  ///
  /// - Parameters:
  ///   - quantized: `false` (default) runs the full-precision model: every quantizer of the
  ///     model is disabled for the pass (`pre_quant_scale` factors still apply, as they are part
  ///     of the model). `true` runs the model as it is.
  ///   - layers: The layers to observe.
  ///   - point: Where to observe (``ObservationPoint``).
  ///   - observe: Called with the layer index and its input; an error stops the pass and is
  ///     rethrown.
  /// - Throws: ``QuantizerError/missingForwardLoop(paths:)`` without a loop; the loop's or the
  ///   observer's error.
  public func runForwardLoop(
    quantized: Bool = false, observing layers: [Linear], point: ObservationPoint = .raw,
    _ observe: (Int, Tensor) throws -> Void
  ) throws {
    guard let loop = forwardLoop else {
      throw QuantizerError.missingForwardLoop(paths: layers.map { "\(type(of: $0))" })
    }
    let all = model.namedModules().map(\.1)
    let savedSlots = all.map { ($0, $0.quantizerSlots) }
    let disabled = quantized ? [] : model.namedQuantizers().map(\.1).filter(\.isEnabled)
    let wasTraining = model.training
    var failure: (any Error)?
    withoutActuallyEscaping(observe) { observe in
      let sink = ObservationSink(observe)
      for (i, layer) in layers.enumerated() {
        let inner = layer.quantizer(slot: "input_quantizer")
        layer.setQuantizer(InputObserver(inner: inner, index: i, point: point, sink: sink), slot: "input_quantizer")
      }
      for q in disabled { q.isEnabled = false }
      model.eval()
      defer {
        for (m, slots) in savedSlots { m.quantizerSlots = slots }
        for q in disabled { q.isEnabled = true }
        model.train(wasTraining)
      }
      do { try Tensor.withoutGrad { try loop(model) } } catch { failure = error }
      if failure == nil { failure = sink.error }
    }
    if let failure { throw failure }
  }

  // MARK: pre_quant_scale

  /// Sets (or with `nil` clears) the `pre_quant_scale` of `layer`'s input: the factors multiply
  /// the input per channel before it is quantized (ModelOpt's `_pre_quant_scale`). An empty
  /// input slot gets a disabled ``TensorQuantizer`` that only scales (recorded by the mode, so
  /// the factors save and restore); clearing removes such a carrier again.
  ///
  /// - Throws: ``QuantizerError/calibrationFailed(path:_:)`` when the input slot holds another
  ///   algorithm's quantizer (only the built-in `static` quantizer carries a `pre_quant_scale`),
  ///   ``QuantizerError/stateMismatch(_:)`` for factors that are not positive and finite or do not
  ///   match the input features.
  public func setInputScale(_ factors: [Float]?, of layer: Linear, path: String) throws {
    let slotPath = path.isEmpty ? "input_quantizer" : "\(path).input_quantizer"
    let existing = layer.quantizer(slot: "input_quantizer")
    guard let factors else {
      if installed[slotPath] != nil {
        layer.setQuantizer(nil, slot: "input_quantizer")
        installed[slotPath] = nil
      } else {
        try (existing as? TensorQuantizer)?.setPreQuantScale(nil)
      }
      return
    }
    guard factors.count == layer.inFeatures else {
      throw QuantizerError.stateMismatch("\(slotPath): \(factors.count) pre_quant_scale factors for \(layer.inFeatures) input features")
    }
    if let existing {
      guard let tq = existing as? TensorQuantizer else {
        throw QuantizerError.calibrationFailed(
          path: slotPath,
          "its quantizer ('\(existing.attributes.algorithm)') cannot carry a pre_quant_scale; use the built-in 'static' input quantizer with this calibration algorithm")
      }
      try tq.setPreQuantScale(Tensor(factors))
    } else {
      let carrier = try TensorQuantizer(attributes: QuantizerAttributes(enable: false))
      try carrier.setPreQuantScale(Tensor(factors))
      layer.setQuantizer(carrier, slot: "input_quantizer")
      installed[slotPath] = (layer, "input_quantizer")
    }
  }

  /// The `pre_quant_scale` of `layer`'s input, if set.
  public func inputScale(of layer: Linear) -> [Float]? {
    (layer.quantizer(slot: "input_quantizer") as? TensorQuantizer)?.preQuantScale?.scalars
  }

  /// `x` through `quantizer` as if it were enabled (its current range, or the range of `x`
  /// when it has none yet), without gradients; the quantizer's enabled flag is left as it was.
  /// Algorithms use it to try candidate weights during a full-precision pass.
  public static func fakeQuantize(_ x: Tensor, with quantizer: any Quantizer) -> Tensor {
    let was = quantizer.isEnabled
    quantizer.isEnabled = true
    defer { quantizer.isEnabled = was }
    return Tensor.withoutGrad { quantizer(x) }
  }

  // MARK: Collectives

  /// `values` combined across the ranks with `op` (unchanged in a single process). Every rank
  /// must call it the same number of times with the same count.
  ///
  /// - Throws: ``CommunicatorError`` from the collective.
  public func allReduce(_ values: [Double], _ op: ReductionOp) throws -> [Double] {
    guard let communicator, communicator.size > 1 else { return values }
    return try communicator.allReduce(values, op)
  }

  /// `values` combined across the ranks with `op` (unchanged in a single process).
  ///
  /// - Throws: ``CommunicatorError`` from the collective.
  public func allReduce(_ values: [Float], _ op: ReductionOp) throws -> [Float] {
    guard let communicator, communicator.size > 1 else { return values }
    return try communicator.allReduce(values, op)
  }
}

/// Collects the first error of observers called from a forward pass (which cannot throw).
private final class ObservationSink {
  let observe: (Int, Tensor) throws -> Void
  var error: (any Error)?
  init(_ observe: @escaping (Int, Tensor) throws -> Void) { self.observe = observe }
  func callAsFunction(_ index: Int, _ x: Tensor) {
    guard error == nil else { return }
    do { try observe(index, x) } catch { self.error = error }
  }
}

/// Sits in a layer's input slot for one forward pass: hands the input to the session's observer
/// and passes it on through the quantizer it replaced.
private final class InputObserver: Quantizer {
  let inner: (any Quantizer)?
  let index: Int
  let point: CalibrationSession.ObservationPoint
  let sink: ObservationSink
  var isEnabled = true
  var attributes: QuantizerAttributes { inner?.attributes ?? QuantizerAttributes(enable: false) }

  init(inner: (any Quantizer)?, index: Int, point: CalibrationSession.ObservationPoint, sink: ObservationSink) {
    self.inner = inner
    self.index = index
    self.point = point
    self.sink = sink
  }

  func stateTensors() -> [(String, Tensor)] { [] }

  func callAsFunction(_ x: Tensor) -> Tensor {
    if point == .raw { sink(index, x) }
    var y = x
    if let inner {
      y = inner.isEnabled ? inner(x) : ((inner as? TensorQuantizer)?.scaledInput(x) ?? x)
    }
    if point == .quantized { sink(index, y) }
    return y
  }
}
