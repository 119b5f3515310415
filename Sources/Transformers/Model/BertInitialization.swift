import QATKit

/// How a new BERT's weights are filled.
public enum BertInitialization: Sendable, Hashable {
  /// HuggingFace's initialization: weights N(0, 0.02), biases 0, LayerNorm γ = 1, β = 0;
  /// each tensor seeded from `seed` and its position in the model.
  case random(seed: UInt64)
  /// Zeros (LayerNorm γ = 1): for models whose weights are loaded right after.
  case zeros

  /// The same initialization for a sub-module, seeds offset by `salt`.
  func child(_ salt: UInt64) -> BertInitialization {
    switch self {
    case .random(let seed): .random(seed: seed &+ salt)
    case .zeros: .zeros
    }
  }

  /// A seed for a sub-module's own random numbers (dropout masks).
  func seed(_ salt: UInt64) -> UInt64 {
    switch self {
    case .random(let seed): seed &+ salt
    case .zeros: salt
    }
  }

  /// A `Linear(inFeatures → outFeatures)` with bias.
  func linear(_ inFeatures: Int, _ outFeatures: Int) -> Linear {
    Linear(weight: table([outFeatures, inFeatures], salt: 1), bias: .zeros([outFeatures], requiresGrad: true))
  }

  /// An embedding table `[vocab, dim]`.
  func embedding(_ vocab: Int, _ dim: Int) -> Embedding {
    Embedding(weight: table([vocab, dim], salt: 2))
  }

  private func table(_ shape: [Int], salt: UInt64) -> Tensor {
    switch self {
    case .random(let seed):
      var rng = RandomGenerator(seed: seed &+ salt)
      return .randn(shape, std: 0.02, using: &rng, requiresGrad: true)
    case .zeros:
      return .zeros(shape, requiresGrad: true)
    }
  }
}
