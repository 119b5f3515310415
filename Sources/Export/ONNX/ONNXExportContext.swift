public import QATKit

/// The graph under construction while ``ONNXExporter`` visits a model: emitters add nodes and
/// initializers through it, visit children with ``emit(_:name:input:)``, and quantize values
/// with ``quantize(_:slot:of:)`` and ``weight(of:transposed:)``.
public final class ONNXExportContext {
  /// The operator set the graph is being written for; emitters whose encoding depends on it
  /// (e.g. `ReduceMean`'s axes) branch on it. The exporter re-runs the visit when the graph
  /// turns out to need a newer opset.
  public let opset: Int
  /// The module path being emitted (`fc1`, `block.attention`; empty at the root).
  public private(set) var path: String = ""
  /// The opset the nodes emitted so far need.
  public private(set) var requiredOpset = 13
  private(set) var nodes: [ONNXNode] = []
  private(set) var initializers: [ONNXTensor] = []
  private var names = Set<String>()
  private var shapes: [String: [Int]] = [:]
  /// The graph inputs by name.
  var graphInputs: [String: ONNXValueInfo] = [:]
  private var sharedValues: [String: String] = [:]
  let exporter: ONNXExporter

  init(opset: Int, exporter: ONNXExporter) {
    self.opset = opset
    self.exporter = exporter
  }

  /// The name of the current path for messages (`(root)` at the top).
  public var layerName: String { path.isEmpty ? "(root)" : path }

  /// The graph input called `name` (for models with several inputs, e.g. an attention mask
  /// next to the token ids), or `nil`.
  public func graphInput(_ name: String) -> String? { graphInputs[name] == nil ? nil : name }

  /// Makes the graph value `value` available to the emitters visited after this call under
  /// `key` (e.g. a model's emitter publishes the additive attention mask its attention layers
  /// read, as the model's forward pass shares the batch's mask); `nil` removes it.
  public func share(_ value: String?, as key: String) { sharedValues[key] = value }

  /// The value shared under `key` by an enclosing emitter (see ``share(_:as:)``), or `nil`.
  public func shared(_ key: String) -> String? { sharedValues[key] }

  /// Records that the graph needs at least `version` of the default operator set.
  public func require(opset version: Int) { requiredOpset = Swift.max(requiredOpset, version) }

  /// A fresh value or node name based on `base`.
  public func uniqueName(_ base: String) -> String {
    let stem = base.isEmpty ? "v" : base
    var name = stem
    var k = 1
    while names.contains(name) {
      k += 1
      name = "\(stem)_\(k)"
    }
    names.insert(name)
    return name
  }

  /// Reserves `name` (the graph input).
  func reserve(_ name: String) { names.insert(name) }

  /// The static shape recorded for `value` (`-1` for the dynamic batch), if known.
  public func shape(of value: String) -> [Int]? { shapes[value] }

  /// Records the static shape of `value`.
  public func setShape(_ value: String, _ shape: [Int]?) { shapes[value] = shape }

  /// Adds a node with one output and returns the output's name.
  @discardableResult
  public func node(_ op: String, _ inputs: [String], _ attributes: [ONNXAttribute] = [], shape: [Int]? = nil) -> String {
    let prefix = path.isEmpty ? op : "\(path)/\(op)"
    let out = uniqueName(prefix)
    nodes.append(ONNXNode(name: out, opType: op, inputs: inputs, outputs: [out], attributes: attributes))
    if let shape { shapes[out] = shape }
    return out
  }

  /// Adds an initializer and returns its name.
  @discardableResult
  public func initializer(_ name: String, _ type: ONNXDataType, dims: [Int], raw: [UInt8]) -> String {
    let n = uniqueName(path.isEmpty ? name : "\(path).\(name)")
    initializers.append(ONNXTensor(name: n, dataType: type, dims: dims.map(Int64.init), rawData: raw))
    shapes[n] = dims
    return n
  }

  /// A `FLOAT` initializer.
  @discardableResult
  public func constant(_ name: String, floats: [Float], dims: [Int]) -> String {
    initializer(name, .float, dims: dims, raw: DType.f32.encode(floats))
  }

  /// An `INT64` initializer.
  @discardableResult
  public func constant(_ name: String, int64s: [Int64], dims: [Int]) -> String {
    var raw: [UInt8] = []
    for v in int64s { for k in 0..<8 { raw.append(UInt8(truncatingIfNeeded: v >> (8 * Int64(k)))) } }
    return initializer(name, .int64, dims: dims, raw: raw)
  }

  /// Emits `child` (named `name` under the current path) on `input` with its registered
  /// emitter and returns its output value.
  ///
  /// - Throws: ``ExportError/unsupported(layer:_:)`` when no emitter is registered for the
  ///   child's type, or the emitter's error.
  public func emit(_ child: Module, name: String, input: String) throws -> String {
    let saved = path
    path = path.isEmpty ? name : (name.isEmpty ? path : "\(path).\(name)")
    defer { path = saved }
    guard let emitter = exporter.emitter(for: child) else {
      throw ExportError.unsupported(
        layer: layerName,
        "no ONNX emitter for \(type(of: child)); register one with ONNXExporter.register(_:emit:) (built in: \(exporter.registeredTypeNames.joined(separator: ", ")))")
    }
    return try emitter(child, input, self)
  }

  /// The graph's nodes renamed so that `value` is called `name` (the graph output).
  func renameOutput(_ value: String, to name: String) {
    for i in nodes.indices {
      nodes[i].inputs = nodes[i].inputs.map { $0 == value ? name : $0 }
      nodes[i].outputs = nodes[i].outputs.map { $0 == value ? name : $0 }
    }
    shapes[name] = shapes[value]
  }

  /// Removes the last node when it is a `op` producing `value` that nothing reads yet; returns it.
  func popLastNode(_ op: String, producing value: String) -> ONNXNode? {
    guard let last = nodes.last, last.opType == op, last.outputs == [value],
      !nodes.contains(where: { $0.inputs.contains(value) })
    else { return nil }
    nodes.removeLast()
    return last
  }

  /// Appends an `Identity` from `value` to `name` (when `value` is not a node output).
  func identity(_ value: String, to name: String) {
    nodes.append(ONNXNode(name: name, opType: "Identity", inputs: [value], outputs: [name]))
    shapes[name] = shapes[value]
  }
}
