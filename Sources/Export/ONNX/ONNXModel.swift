/// An ONNX model: the subset of `onnx.proto` QATKit writes and reads back (one graph,
/// nodes with attributes, initializers as `raw_data`, typed inputs and outputs). Field
/// numbers are ONNX's; ``serialized()`` and ``init(bytes:)`` use ``Protobuf``.
public struct ONNXModel: Equatable, Sendable {
  /// `ir_version`.
  public var irVersion: Int64
  /// `opset_import`: operator set domain (`""` = `ai.onnx`) and version.
  public var opsets: [ONNXOpset]
  /// `producer_name`.
  public var producerName: String
  /// `producer_version`.
  public var producerVersion: String
  /// The graph.
  public var graph: ONNXGraph

  /// Creates a model.
  public init(irVersion: Int64, opsets: [ONNXOpset], producerName: String, producerVersion: String, graph: ONNXGraph) {
    self.irVersion = irVersion
    self.opsets = opsets
    self.producerName = producerName
    self.producerVersion = producerVersion
    self.graph = graph
  }

  /// The version of the default (`ai.onnx`) operator set.
  public var opset: Int64 { opsets.first { $0.domain.isEmpty }?.version ?? 0 }

  /// The IR version that goes with an opset (ONNX's release table): 13 → 7, 15 → 8, 19 → 9, 21 → 10.
  public static func irVersion(forOpset opset: Int) -> Int64 {
    switch opset {
    case ...14: 7
    case 15...18: 8
    case 19...20: 9
    default: 10
    }
  }
}

/// An `OperatorSetIdProto`.
public struct ONNXOpset: Equatable, Sendable {
  /// `domain` (`""` for the default operator set).
  public var domain: String
  /// `version`.
  public var version: Int64
  /// Creates an entry.
  public init(domain: String = "", version: Int64) {
    self.domain = domain
    self.version = version
  }
}

/// A `GraphProto`.
public struct ONNXGraph: Equatable, Sendable {
  /// `name`.
  public var name: String
  /// `node`, in topological order.
  public var nodes: [ONNXNode]
  /// `initializer`.
  public var initializers: [ONNXTensor]
  /// `input`.
  public var inputs: [ONNXValueInfo]
  /// `output`.
  public var outputs: [ONNXValueInfo]

  /// Creates a graph.
  public init(name: String, nodes: [ONNXNode], initializers: [ONNXTensor], inputs: [ONNXValueInfo], outputs: [ONNXValueInfo]) {
    self.name = name
    self.nodes = nodes
    self.initializers = initializers
    self.inputs = inputs
    self.outputs = outputs
  }
}

/// A `NodeProto`.
public struct ONNXNode: Equatable, Sendable {
  /// `name`.
  public var name: String
  /// `op_type`.
  public var opType: String
  /// `domain` (`""` for the default operator set).
  public var domain: String
  /// `input` value names (`""` for an omitted optional input).
  public var inputs: [String]
  /// `output` value names.
  public var outputs: [String]
  /// `attribute`.
  public var attributes: [ONNXAttribute]

  /// Creates a node.
  public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String], attributes: [ONNXAttribute] = []) {
    self.name = name
    self.opType = opType
    self.domain = domain
    self.inputs = inputs
    self.outputs = outputs
    self.attributes = attributes
  }

  /// The attribute called `name`.
  public func attribute(_ name: String) -> ONNXAttribute.Value? { attributes.first { $0.name == name }?.value }
}

/// An `AttributeProto`.
public struct ONNXAttribute: Equatable, Sendable {
  /// The value kinds QATKit uses.
  public enum Value: Equatable, Sendable {
    /// `INT` (`i`).
    case int(Int64)
    /// `FLOAT` (`f`).
    case float(Float)
    /// `STRING` (`s`).
    case string(String)
    /// `INTS` (`ints`).
    case ints([Int64])
    /// `FLOATS` (`floats`).
    case floats([Float])
    /// `TENSOR` (`t`).
    case tensor(ONNXTensor)
  }

  /// `name`.
  public var name: String
  /// The value.
  public var value: Value

  /// Creates an attribute.
  public init(_ name: String, _ value: Value) {
    self.name = name
    self.value = value
  }
}

/// ONNX element types (`TensorProto.DataType`) QATKit uses.
public enum ONNXDataType: Int32, Sendable, CaseIterable {
  /// `FLOAT`.
  case float = 1
  /// `UINT8`.
  case uint8 = 2
  /// `INT8`.
  case int8 = 3
  /// `INT32`.
  case int32 = 6
  /// `INT64`.
  case int64 = 7
  /// `FLOAT8E4M3FN` (opset 19).
  case float8e4m3fn = 17
  /// `FLOAT8E5M2` (opset 19).
  case float8e5m2 = 19
  /// `UINT4` (opset 21), two per byte, first element in the low nibble.
  case uint4 = 21
  /// `INT4` (opset 21), two per byte, first element in the low nibble.
  case int4 = 22

  /// Bits per element.
  public var bits: Int {
    switch self {
    case .float, .int32: 32
    case .int64: 64
    case .uint8, .int8, .float8e4m3fn, .float8e5m2: 8
    case .uint4, .int4: 4
    }
  }

  /// Bytes of `raw_data` for `count` elements.
  public func byteCount(_ count: Int) -> Int { bits == 4 ? (count + 1) / 2 : count * bits / 8 }
}

/// A `TensorProto` with `raw_data` (little-endian; 4-bit types packed two per byte).
public struct ONNXTensor: Equatable, Sendable {
  /// `name`.
  public var name: String
  /// `data_type`.
  public var dataType: ONNXDataType
  /// `dims`.
  public var dims: [Int64]
  /// `raw_data`.
  public var rawData: [UInt8]

  /// Creates a tensor.
  public init(name: String, dataType: ONNXDataType, dims: [Int64], rawData: [UInt8]) {
    self.name = name
    self.dataType = dataType
    self.dims = dims
    self.rawData = rawData
  }

  /// Number of elements.
  public var count: Int { dims.reduce(1) { $0 * Int($1) } }

  /// The values of a `FLOAT` tensor.
  public var floats: [Float] {
    guard dataType == .float else { return [] }
    return stride(from: 0, to: rawData.count, by: 4).map { k in
      var bits: UInt32 = 0
      for j in 0..<4 { bits |= UInt32(rawData[k + j]) << (8 * UInt32(j)) }
      return Float(bitPattern: bits)
    }
  }

  /// The values of an `INT64` tensor.
  public var int64s: [Int64] {
    guard dataType == .int64 else { return [] }
    return stride(from: 0, to: rawData.count, by: 8).map { k in
      var bits: UInt64 = 0
      for j in 0..<8 { bits |= UInt64(rawData[k + j]) << (8 * UInt64(j)) }
      return Int64(bitPattern: bits)
    }
  }
}

/// A `ValueInfoProto` of a tensor: name, element type and shape.
public struct ONNXValueInfo: Equatable, Sendable {
  /// One dimension: a size or a symbolic name (dynamic).
  public enum Dim: Equatable, Sendable {
    /// `dim_value`.
    case value(Int64)
    /// `dim_param`.
    case param(String)
  }

  /// `name`.
  public var name: String
  /// `elem_type`.
  public var elementType: ONNXDataType
  /// `shape`.
  public var shape: [Dim]

  /// Creates a value info.
  public init(name: String, elementType: ONNXDataType, shape: [Dim]) {
    self.name = name
    self.elementType = elementType
    self.shape = shape
  }
}
