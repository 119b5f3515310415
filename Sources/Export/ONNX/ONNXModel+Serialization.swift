extension ONNXModel {
  /// The model as protobuf bytes (an `.onnx` file).
  public func serialized() -> [UInt8] {
    var w = Protobuf.Writer()
    w.int(1, irVersion)
    w.string(2, producerName)
    w.string(3, producerVersion)
    w.message(7) { graph.encode(&$0) }
    for o in opsets {
      w.message(8) { m in
        if !o.domain.isEmpty { m.string(1, o.domain) }
        m.int(2, o.version)
      }
    }
    return w.bytes
  }

  /// Parses an `.onnx` file's bytes (the subset in ``ONNXModel``; other fields are skipped).
  ///
  /// - Throws: ``ExportError/malformed(path:_:)`` (path `"onnx"`) for bytes that are not a valid model.
  public init(bytes: [UInt8]) throws {
    do {
      var ir: Int64 = 0
      var opsets: [ONNXOpset] = []
      var producer = "", version = ""
      var graph: ONNXGraph? = nil
      for f in try Protobuf.fields(bytes[...]) {
        switch f.number {
        case 1: ir = try f.value.int()
        case 2: producer = try f.value.string()
        case 3: version = try f.value.string()
        case 7: graph = try ONNXGraph(try f.value.data())
        case 8:
          var o = ONNXOpset(version: 0)
          for g in try Protobuf.fields(try f.value.data()) {
            if g.number == 1 { o.domain = try g.value.string() }
            if g.number == 2 { o.version = try g.value.int() }
          }
          opsets.append(o)
        default: break
        }
      }
      guard let graph else { throw Protobuf.DecodingError(message: "the model has no graph") }
      self.init(irVersion: ir, opsets: opsets, producerName: producer, producerVersion: version, graph: graph)
    } catch let e as ExportError {
      throw e
    } catch {
      throw ExportError.malformed(path: "onnx", "not a valid ONNX model: \(error)")
    }
  }
}

extension ONNXGraph {
  func encode(_ w: inout Protobuf.Writer) {
    for n in nodes { w.message(1) { n.encode(&$0) } }
    w.string(2, name)
    for t in initializers { w.message(5) { t.encode(&$0) } }
    for i in inputs { w.message(11) { i.encode(&$0) } }
    for o in outputs { w.message(12) { o.encode(&$0) } }
  }

  init(_ data: ArraySlice<UInt8>) throws {
    var nodes: [ONNXNode] = [], inits: [ONNXTensor] = [], inputs: [ONNXValueInfo] = [], outputs: [ONNXValueInfo] = []
    var name = ""
    for f in try Protobuf.fields(data) {
      switch f.number {
      case 1: nodes.append(try ONNXNode(try f.value.data()))
      case 2: name = try f.value.string()
      case 5: inits.append(try ONNXTensor(try f.value.data()))
      case 11: inputs.append(try ONNXValueInfo(try f.value.data()))
      case 12: outputs.append(try ONNXValueInfo(try f.value.data()))
      default: break
      }
    }
    self.init(name: name, nodes: nodes, initializers: inits, inputs: inputs, outputs: outputs)
  }
}

extension ONNXNode {
  func encode(_ w: inout Protobuf.Writer) {
    for i in inputs { w.string(1, i) }
    for o in outputs { w.string(2, o) }
    w.string(3, name)
    w.string(4, opType)
    for a in attributes { w.message(5) { a.encode(&$0) } }
    if !domain.isEmpty { w.string(7, domain) }
  }

  init(_ data: ArraySlice<UInt8>) throws {
    var inputs: [String] = [], outputs: [String] = [], attributes: [ONNXAttribute] = []
    var name = "", op = "", domain = ""
    for f in try Protobuf.fields(data) {
      switch f.number {
      case 1: inputs.append(try f.value.string())
      case 2: outputs.append(try f.value.string())
      case 3: name = try f.value.string()
      case 4: op = try f.value.string()
      case 5: attributes.append(try ONNXAttribute(try f.value.data()))
      case 7: domain = try f.value.string()
      default: break
      }
    }
    self.init(name: name, opType: op, domain: domain, inputs: inputs, outputs: outputs, attributes: attributes)
  }
}

extension ONNXAttribute {
  /// `AttributeProto.AttributeType` values.
  private enum Kind: Int64 {
    case float = 1, int = 2, string = 3, tensor = 4, floats = 6, ints = 7
  }

  func encode(_ w: inout Protobuf.Writer) {
    w.string(1, name)
    switch value {
    case .float(let f):
      w.float(2, f)
      w.int(20, Kind.float.rawValue)
    case .int(let i):
      w.int(3, i)
      w.int(20, Kind.int.rawValue)
    case .string(let s):
      w.string(4, s)
      w.int(20, Kind.string.rawValue)
    case .tensor(let t):
      w.message(5) { t.encode(&$0) }
      w.int(20, Kind.tensor.rawValue)
    case .floats(let v):
      w.packedFloats(7, v)
      w.int(20, Kind.floats.rawValue)
    case .ints(let v):
      w.packedInts(8, v)
      w.int(20, Kind.ints.rawValue)
    }
  }

  init(_ data: ArraySlice<UInt8>) throws {
    var name = ""
    var kind: Int64 = 0
    var f: Float = 0, i: Int64 = 0, s = "", t: ONNXTensor? = nil
    var floats: [Float] = [], ints: [Int64] = []
    for field in try Protobuf.fields(data) {
      switch field.number {
      case 1: name = try field.value.string()
      case 2: f = try field.value.float()
      case 3: i = try field.value.int()
      case 4: s = try field.value.string()
      case 5: t = try ONNXTensor(try field.value.data())
      case 7: floats += try field.value.floats()
      case 8: ints += try field.value.ints()
      case 20: kind = try field.value.int()
      default: break
      }
    }
    switch Kind(rawValue: kind) {
    case .float: value = .float(f)
    case .int: value = .int(i)
    case .string: value = .string(s)
    case .tensor:
      guard let t else { throw Protobuf.DecodingError(message: "tensor attribute '\(name)' without a tensor") }
      value = .tensor(t)
    case .floats: value = .floats(floats)
    case .ints: value = .ints(ints)
    case nil: throw Protobuf.DecodingError(message: "attribute '\(name)' has unsupported type \(kind)")
    }
    self.name = name
  }
}

extension ONNXTensor {
  func encode(_ w: inout Protobuf.Writer) {
    if !dims.isEmpty { w.packedInts(1, dims) }
    w.int(2, Int64(dataType.rawValue))
    w.string(8, name)
    w.bytes(9, rawData)
  }

  init(_ data: ArraySlice<UInt8>) throws {
    var dims: [Int64] = [], type: Int64 = 0, name = "", raw: [UInt8] = []
    for f in try Protobuf.fields(data) {
      switch f.number {
      case 1: dims += try f.value.ints()
      case 2: type = try f.value.int()
      case 8: name = try f.value.string()
      case 9: raw = Array(try f.value.data())
      case 4, 5, 7: throw Protobuf.DecodingError(message: "tensor '\(name)' uses typed data fields; QATKit reads raw_data only")
      default: break
      }
    }
    guard let dt = ONNXDataType(rawValue: Int32(truncatingIfNeeded: type)) else {
      throw Protobuf.DecodingError(message: "tensor '\(name)' has unsupported data type \(type)")
    }
    // Sizes from the file: multiplied with overflow checks (two dimensions of 2^40 overflow
    // `Int`), and bounded by the bytes actually present.
    var count = 1
    for d in dims {
      guard d >= 0, d <= Int64(Int.max) else {
        throw Protobuf.DecodingError(message: "tensor '\(name)' has a negative or too large dimension in \(dims)")
      }
      let (p, overflow) = count.multipliedReportingOverflow(by: Int(d))
      guard !overflow, p <= 8 * (raw.count + 1) else {
        throw Protobuf.DecodingError(message: "tensor '\(name)' has \(raw.count) bytes for \(dt) \(dims)")
      }
      count = p
    }
    guard raw.count == dt.byteCount(count) else {
      throw Protobuf.DecodingError(message: "tensor '\(name)' has \(raw.count) bytes for \(dt) \(dims)")
    }
    self.init(name: name, dataType: dt, dims: dims, rawData: raw)
  }
}

extension ONNXValueInfo {
  func encode(_ w: inout Protobuf.Writer) {
    w.string(1, name)
    w.message(2) { type in
      type.message(1) { tensor in
        tensor.int(1, Int64(elementType.rawValue))
        tensor.message(2) { shape in
          for d in self.shape {
            shape.message(1) { dim in
              switch d {
              case .value(let v): dim.int(1, v)
              case .param(let p): dim.string(2, p)
              }
            }
          }
        }
      }
    }
  }

  init(_ data: ArraySlice<UInt8>) throws {
    var name = "", elem: Int64 = 0, dims: [Dim] = []
    for f in try Protobuf.fields(data) {
      switch f.number {
      case 1: name = try f.value.string()
      case 2:
        for t in try Protobuf.fields(try f.value.data()) where t.number == 1 {
          for g in try Protobuf.fields(try t.value.data()) {
            if g.number == 1 { elem = try g.value.int() }
            if g.number == 2 {
              for d in try Protobuf.fields(try g.value.data()) where d.number == 1 {
                for v in try Protobuf.fields(try d.value.data()) {
                  if v.number == 1 { dims.append(.value(try v.value.int())) }
                  if v.number == 2 { dims.append(.param(try v.value.string())) }
                }
              }
            }
          }
        }
      default: break
      }
    }
    guard let t = ONNXDataType(rawValue: Int32(truncatingIfNeeded: elem)) else {
      throw Protobuf.DecodingError(message: "value '\(name)' has unsupported element type \(elem)")
    }
    self.init(name: name, elementType: t, shape: dims)
  }
}
