public import Foundation
public import QATKit

/// Writes a QATKit model as an ONNX graph with standard `QuantizeLinear` / `DequantizeLinear`
/// pairs, by visiting its modules: each module type has an *emitter* that adds its nodes
/// (and visits its children through ``ONNXExportContext/emit(_:name:input:)``).
/// ``standard`` knows every built-in layer and model; ``register(_:emit:)`` plugs in new
/// ones.
///
/// Quantizers become: weights → their real codes as initializers (INT8 / UINT8 per tensor or
/// per channel, INT4 blocks, FP8) followed by `DequantizeLinear`; static per-tensor
/// activation quantizers (input / output / attention matmul slots) → `QuantizeLinear` →
/// `DequantizeLinear`. The opset is the smallest that holds the graph: 13 for INT8, 17 with
/// `LayerNormalization`, 19 with FP8, 21 with INT4 blocks (`block_size`).
public struct ONNXExporter: Sendable {
  /// An emitter: adds the nodes of `module` applied to the value `input` and returns its
  /// output value.
  public typealias Emitter = @Sendable (_ module: Module, _ input: String, _ context: ONNXExportContext) throws -> String

  private var emitters: [ObjectIdentifier: (name: String, emit: Emitter)] = [:]

  /// An exporter without emitters.
  public init() {}

  /// An exporter with the emitters of QATKit's layers and models: `Linear`, `Conv2d`,
  /// `Embedding`, `LayerNorm`, `ReLU`, `GELU`, `Flatten`, `Dropout`, `Sequential`, `MLP`,
  /// `SmallCNN`, `MultiHeadAttention`, `TransformerEncoderBlock`, `DigitsTransformer`.
  public static var standard: ONNXExporter {
    var e = ONNXExporter()
    e.registerBuiltinLayers()
    e.registerArchitectureLayers()
    e.registerBuiltinModels()
    return e
  }

  /// Registers (or replaces) the emitter of module type `M` (matched exactly, not subclasses).
  public mutating func register<M: Module>(_ type: M.Type, emit: @escaping @Sendable (M, String, ONNXExportContext) throws -> String) {
    emitters[ObjectIdentifier(type)] = ("\(type)", { m, input, ctx in try emit(m as! M, input, ctx) })
  }

  /// The emitter of `module`'s exact type.
  func emitter(for module: Module) -> Emitter? { emitters[ObjectIdentifier(type(of: module))]?.emit }

  /// The registered type names, sorted.
  var registeredTypeNames: [String] { emitters.values.map(\.name).sorted() }

  /// The graph of `model` applied to a float32 input `inputName` of shape `inputShape`
  /// (the first dimension is the dynamic batch `N`), returning `outputName`.
  ///
  /// - Throws: ``ExportError/noQuantizers(_:)`` when `requireQuantizers` and the model has
  ///   no enabled quantizer; ``ExportError/unsupported(layer:_:)`` naming the layer for what
  ///   ONNX's Q/DQ cannot express or a type without an emitter.
  public func graph(
    for model: Module, inputShape: [Int], inputName: String = "input", outputName: String = "logits",
    requireQuantizers: Bool = true
  ) throws -> ONNXModel {
    guard inputShape.count >= 2, inputShape.dropFirst().allSatisfy({ $0 > 0 }) else {
      throw ExportError.unsupported(
        layer: "(input)", "the input shape must be [N, features...] with positive sizes after the batch, got \(inputShape)")
    }
    let dims: [ONNXValueInfo.Dim] = [.param("N")] + inputShape.dropFirst().map { .value(Int64($0)) }
    return try graph(
      for: model, inputs: [ONNXValueInfo(name: inputName, elementType: .float, shape: dims)], outputName: outputName,
      requireQuantizers: requireQuantizers)
  }

  /// The graph of `model` with several typed graph inputs (e.g. `input_ids` and
  /// `attention_mask`, int64 `[N, T]`); the model's emitter receives the first and reaches the
  /// others with ``ONNXExportContext/graphInput(_:)``. Symbolic dimensions (`dim_param`) are
  /// dynamic.
  ///
  /// - Throws: as ``graph(for:inputShape:inputName:outputName:requireQuantizers:)``.
  public func graph(
    for model: Module, inputs: [ONNXValueInfo], outputName: String, requireQuantizers: Bool = true
  ) throws -> ONNXModel {
    guard let first = inputs.first, Set(inputs.map(\.name)).count == inputs.count, !inputs.contains(where: { $0.name == outputName }) else {
      throw ExportError.unsupported(layer: "(input)", "the graph needs at least one input, with distinct names other than '\(outputName)'")
    }
    if requireQuantizers, !model.namedQuantizers().contains(where: { $0.1.isEnabled }) {
      throw ExportError.noQuantizers("the model has no enabled quantizer, so its ONNX graph would hold no Q/DQ")
    }
    var opset = 13
    while true {
      let ctx = ONNXExportContext(opset: opset, exporter: self)
      ctx.reserve(outputName)
      for i in inputs {
        ctx.reserve(i.name)
        ctx.setShape(i.name, i.shape.map { if case .value(let v) = $0 { Int(v) } else { -1 } })
        ctx.graphInputs[i.name] = i
      }
      let out = try ctx.emit(model, name: "", input: first.name)
      guard ctx.requiredOpset > opset else {
        if inputs.contains(where: { $0.name == out }) || ctx.initializers.contains(where: { $0.name == out }) {
          ctx.identity(out, to: outputName)
        } else {
          ctx.renameOutput(out, to: outputName)
        }
        func dims(_ s: [Int]?) -> [ONNXValueInfo.Dim] {
          guard let s else { return [.param("N"), .param("M")] }
          return s.enumerated().map { i, d in d < 0 ? .param(i == 0 ? "N" : "d\(i)") : .value(Int64(d)) }
        }
        let graph = ONNXGraph(
          name: "qatkit", nodes: ctx.nodes, initializers: ctx.initializers, inputs: inputs,
          outputs: [ONNXValueInfo(name: outputName, elementType: .float, shape: dims(ctx.shape(of: outputName)))])
        let m = ONNXModel(
          irVersion: ONNXModel.irVersion(forOpset: opset), opsets: [ONNXOpset(version: Int64(opset))],
          producerName: "QATKit", producerVersion: UnifiedCheckpoint.producerVersion, graph: graph)
        try m.validate()
        return m
      }
      opset = ctx.requiredOpset
    }
  }

  /// Writes `model`'s graph (see ``graph(for:inputShape:inputName:outputName:requireQuantizers:)``)
  /// to `url`: parsed back and validated first, then written to a temporary file next to
  /// `url` and renamed into place.
  ///
  /// - Throws: the graph's errors, ``ExportError/destinationExists(_:)`` (unless `overwrite`),
  ///   ``ExportError/cannotWrite(path:_:)``, ``ExportError/verificationFailed(_:)``.
  @discardableResult
  public func write(
    _ model: Module, to url: URL, inputShape: [Int], overwrite: Bool = false, inputName: String = "input",
    outputName: String = "logits"
  ) throws -> ONNXExportReport {
    try write(graph(for: model, inputShape: inputShape, inputName: inputName, outputName: outputName), to: url, overwrite: overwrite)
  }

  /// Writes the graph of `model` with several typed inputs (see
  /// ``graph(for:inputs:outputName:requireQuantizers:)``) to `url`, verified and atomically as
  /// ``write(_:to:inputShape:overwrite:inputName:outputName:)``. `requireQuantizers: false`
  /// writes an unquantized model (a float baseline for the same runtime).
  ///
  /// - Throws: as ``write(_:to:inputShape:overwrite:inputName:outputName:)``.
  @discardableResult
  public func write(
    _ model: Module, to url: URL, inputs: [ONNXValueInfo], outputName: String, overwrite: Bool = false,
    requireQuantizers: Bool = true
  ) throws -> ONNXExportReport {
    try write(graph(for: model, inputs: inputs, outputName: outputName, requireQuantizers: requireQuantizers), to: url, overwrite: overwrite)
  }

  /// Serializes `m`, checks it parses back equal, writes it next to `url` and renames it into place.
  private func write(_ m: ONNXModel, to url: URL, overwrite: Bool) throws -> ONNXExportReport {
    let location = try OutputLocation(url, overwrite: overwrite)
    let bytes = m.serialized()
    let reread: ONNXModel
    do { reread = try ONNXModel(bytes: bytes) } catch {
      throw ExportError.verificationFailed("the serialized graph does not parse back: \(error)")
    }
    guard reread == m else { throw ExportError.verificationFailed("the serialized graph parses back differently") }
    let temp = location.temporaryURL()
    do {
      try Data(bytes).write(to: temp)
      let onDisk = try ONNXModel(bytes: [UInt8](try Data(contentsOf: temp)))
      guard onDisk == m else { throw ExportError.verificationFailed("the file read back differs from the graph") }
      try location.commit(temp)
    } catch {
      try? FileManager.default.removeItem(at: temp)
      if let e = error as? ExportError { throw e }
      throw ExportError.cannotWrite(path: url.path, "\(error)")
    }
    return ONNXExportReport(model: m, file: location.destination, bytes: bytes.count)
  }
}

/// What ``ONNXExporter/write(_:to:inputShape:overwrite:inputName:outputName:)`` wrote.
public struct ONNXExportReport: Sendable, CustomStringConvertible {
  /// The graph.
  public let model: ONNXModel
  /// The file.
  public let file: URL
  /// Its size in bytes.
  public let bytes: Int

  /// Node counts by operator type.
  public var operatorCounts: [String: Int] {
    model.graph.nodes.reduce(into: [:]) { $0[$1.opType, default: 0] += 1 }
  }

  /// A summary for the command line.
  public var description: String {
    let ops = operatorCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    return "ONNX \(file.path): opset \(model.opset), IR \(model.irVersion), \(bytes) bytes, \(model.graph.nodes.count) nodes (\(ops)), \(model.graph.initializers.count) initializers"
  }
}

extension ONNXModel {
  /// Structural checks: unique node outputs; every node input is the graph input, an
  /// initializer or an earlier node's output; the graph output is produced.
  ///
  /// - Throws: ``ExportError/verificationFailed(_:)`` naming the first problem.
  public func validate() throws {
    var known = Set(graph.inputs.map(\.name)).union(graph.initializers.map(\.name))
    guard known.count == graph.inputs.count + graph.initializers.count else {
      throw ExportError.verificationFailed("initializer or input names are not unique")
    }
    for n in graph.nodes {
      for i in n.inputs where !i.isEmpty && !known.contains(i) {
        throw ExportError.verificationFailed("node '\(n.name)' (\(n.opType)) reads '\(i)' before it is defined")
      }
      for o in n.outputs {
        guard known.insert(o).inserted else { throw ExportError.verificationFailed("value '\(o)' is defined twice") }
      }
    }
    for o in graph.outputs where !known.contains(o.name) {
      throw ExportError.verificationFailed("graph output '\(o.name)' is never produced")
    }
  }
}
