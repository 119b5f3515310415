import Foundation
import QATKit

/// The test bundle's fixtures directory.
func fixtures() -> URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }

/// A fresh path under a per-test temporary directory (not created).
func tempURL(_ name: String) -> URL {
  let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qatexport-\(UUID().uuidString)")
  try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  return dir.appendingPathComponent(name)
}

/// A tensor of a golden-vector file: `{"shape": [...], "data": [...]}`.
struct GoldenTensor: Decodable {
  let shape: [Int]
  let data: [Double]
  var floats: [Float] { data.map { Float($0) } }
  var tensor: Tensor { Tensor(shape: shape, storage: floats) }
}

/// The parts of a golden-vector file the export tests read.
struct Golden: Decodable {
  let input: GoldenTensor
  let output: GoldenTensor
  let amax: GoldenTensor?

  static func load(_ name: String) throws -> Golden {
    try JSONDecoder().decode(Golden.self, from: Data(contentsOf: fixtures().appendingPathComponent("conformance/\(name).json")))
  }
}

/// A container with named children, to build models with arbitrary PyTorch paths.
final class Node: Module {
  let kids: [(String, Module)]
  init(_ kids: [(String, Module)]) { self.kids = kids }
  override func children() -> [(String, Module)] { kids }
  override func ownParameters() -> [(String, Tensor)] { [] }
  override func replaceChild(named name: String, with module: Module) throws { throw ModuleError.notReplaceable(name) }
}

/// The parameter layout of Hugging Face's `BertModel` (the Linear, Embedding and LayerNorm
/// names and shapes of ModelOpt's fixtures), without a forward pass.
func bertLayout(hidden: Int, layers: Int, ffn: Int, vocab: Int, positions: Int) -> Node {
  func linear(_ i: Int, _ o: Int, _ seed: UInt64) -> Linear { Linear(i, o, seed: seed) }
  var seed: UInt64 = 100
  func next() -> UInt64 { seed += 1; return seed }
  let embeddings = Node([
    ("word_embeddings", Embedding(vocab, hidden, seed: next())),
    ("position_embeddings", Embedding(positions, hidden, seed: next())),
    ("token_type_embeddings", Embedding(2, hidden, seed: next())),
    ("LayerNorm", LayerNorm(hidden)),
  ])
  let blocks: [(String, Module)] = (0..<layers).map { i in
    let attention = Node([
      ("self", Node([("query", linear(hidden, hidden, next())), ("key", linear(hidden, hidden, next())), ("value", linear(hidden, hidden, next()))])),
      ("output", Node([("dense", linear(hidden, hidden, next())), ("LayerNorm", LayerNorm(hidden))])),
    ])
    return (String(i), Node([
      ("attention", attention),
      ("intermediate", Node([("dense", linear(hidden, ffn, next()))])),
      ("output", Node([("dense", linear(ffn, hidden, next())), ("LayerNorm", LayerNorm(hidden))])),
    ]))
  }
  return Node([
    ("embeddings", embeddings),
    ("encoder", Node([("layer", Node(blocks))])),
    ("pooler", Node([("dense", linear(hidden, hidden, next()))])),
  ])
}

/// Puts calibrated quantizers into `layer`: a weight quantizer calibrated (max) on the
/// weight, and optionally a static input quantizer with range `inputAmax` and a pre-quant scale.
@discardableResult
func quantize(
  _ layer: Module, weight: QuantizerAttributes, input: QuantizerAttributes? = nil, inputAmax: Float = 2,
  preQuantScale: [Float]? = nil
) throws -> TensorQuantizer {
  let w = layer.ownParameters().first { $0.0 == "weight" }!.1
  let wq = try TensorQuantizer(attributes: weight)
  if weight.format.usesAmax {
    wq.beginCalibration(MaxCalibrator())
    _ = Tensor.withoutGrad { wq(w) }
    try wq.endCalibration()
  }
  layer.setQuantizer(wq, slot: "weight_quantizer")
  if let input {
    let iq = try TensorQuantizer(attributes: input)
    if input.format.usesAmax { try iq.setAmax(Tensor(scalar: inputAmax)) }
    if let preQuantScale { try iq.setPreQuantScale(Tensor(preQuantScale)) }
    layer.setQuantizer(iq, slot: "input_quantizer")
  }
  return wq
}

/// The ULP distance of two floats (0 when equal).
func ulps(_ a: Float, _ b: Float) -> Int {
  if a == b { return 0 }
  func ordered(_ x: Float) -> Int64 {
    let bits = Int64(x.bitPattern & 0x7FFF_FFFF)
    return x.sign == .minus ? -bits : bits
  }
  return Int(abs(ordered(a) - ordered(b)))
}
