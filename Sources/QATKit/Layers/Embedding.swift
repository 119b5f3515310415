/// A lookup table of `[vocab, dim]` vectors; the input holds integer indices as floats.
///
/// Quantizer slots: `weight_quantizer`, `output_quantizer`.
public final class Embedding: Module {
  /// `[vocab, dim]` table, initialized N(0, 1) as in PyTorch.
  public let weight: Tensor

  /// Creates a seeded table.
  public init(_ vocab: Int, _ dim: Int, seed: UInt64 = 0) {
    var rng = RandomGenerator(seed: seed)
    weight = .randn([vocab, dim], using: &rng, requiresGrad: true)
  }

  /// Creates a layer around an existing `[vocab, dim]` table.
  public init(weight: Tensor) {
    precondition(weight.rank == 2, "Embedding: weight \(weight.shape) must be [vocab, dim]")
    self.weight = weight
  }

  /// Weight and output quantizer slots.
  public override class var quantizerSlotNames: [String] { ["weight_quantizer", "output_quantizer"] }

  /// A new table of the same size.
  public override func emptyCopy() throws -> Module { Embedding(weight.shape[0], weight.shape[1]) }

  /// `indices [...]` → `[..., dim]`. Indices must be integers in `0..<vocab`.
  public override func forward(_ indices: Tensor) -> Tensor {
    let vocab = weight.shape[0]
    if let bad = indices.storage.first(where: { !($0 >= 0 && $0 < Float(vocab) && $0.rounded() == $0) }),
      rejectInput(indices.shape, "index \(bad) is not an integer in 0..<\(vocab)")
    {
      return Tensor.zeros(indices.shape + [weight.shape[1]])
    }
    let ids = indices.storage.map { Int($0) }
    let w = quantize(weight, slot: "weight_quantizer")
    return quantize(w.embedding(ids, indexShape: indices.shape), slot: "output_quantizer")
  }
}
