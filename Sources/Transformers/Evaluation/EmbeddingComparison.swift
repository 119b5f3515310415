import Foundation
import QATKit

/// How close one set of sentence embeddings is to a reference set (the FP32 model's), as
/// ModelOpt's reference script measures it: per-sentence cosine (mean and minimum) and
/// nearest-neighbour agreement — for each sentence, is its most similar *other* sentence the
/// same under both sets (ties go to the lowest index, as `torch.argmax`).
public struct EmbeddingComparison: Sendable, Hashable, CustomStringConvertible {
  /// Mean cosine between matching rows.
  public let meanCosine: Double
  /// Smallest cosine between matching rows.
  public let minCosine: Double
  /// Fraction of sentences whose nearest neighbour is unchanged.
  public let nearestNeighbourAgreement: Double
  /// Largest absolute difference between matching values.
  public let maxAbsDifference: Float
  /// The row with the smallest cosine.
  public let worstIndex: Int

  /// Compares `embeddings` with `reference`, both `[N, D]` with `N ≥ 2`.
  ///
  /// - Throws: ``TransformersError/invalidInput(_:)`` when the shapes differ or are not
  ///   `[N ≥ 2, D]`.
  public init(_ embeddings: Tensor, reference: Tensor) throws {
    guard embeddings.shape == reference.shape, embeddings.rank == 2, embeddings.shape[0] >= 2 else {
      throw TransformersError.invalidInput(
        "embeddings \(embeddings.shape) and reference \(reference.shape) must both be [N ≥ 2, D]")
    }
    let (n, d) = (embeddings.shape[0], embeddings.shape[1])
    let a = embeddings.scalars, b = reference.scalars
    var cosines = [Double](repeating: 0, count: n)
    var maxDiff: Float = 0
    for i in 0..<n {
      var dot = 0.0, na = 0.0, nb = 0.0
      for c in 0..<d {
        let x = Double(a[i * d + c]), y = Double(b[i * d + c])
        dot += x * y; na += x * x; nb += y * y
        maxDiff = Swift.max(maxDiff, Swift.abs(a[i * d + c] - b[i * d + c]))
      }
      cosines[i] = dot / Swift.max((na * nb).squareRoot(), 1e-30)
    }
    let nnA = Self.nearestNeighbours(embeddings), nnB = Self.nearestNeighbours(reference)
    meanCosine = cosines.reduce(0, +) / Double(n)
    minCosine = cosines.min()!
    worstIndex = cosines.firstIndex(of: minCosine)!
    nearestNeighbourAgreement = Double(zip(nnA, nnB).filter { $0 == $1 }.count) / Double(n)
    maxAbsDifference = maxDiff
  }

  /// For each row, the index of the other row with the largest dot product (lowest index on ties).
  public static func nearestNeighbours(_ x: Tensor) -> [Int] {
    let n = x.shape[0]
    let sim = Tensor.withoutGrad { Tensor.matmul(x.detach(), transposed: x.detach()) }.scalars
    return (0..<n).map { i in
      var best = -1
      var bestValue = -Float.infinity
      for j in 0..<n where j != i && (best < 0 || sim[i * n + j] > bestValue) {
        best = j
        bestValue = sim[i * n + j]
      }
      return best
    }
  }

  /// `mean cos 0.9876 / min 0.9512 / NN 0.942`.
  public var description: String {
    String(format: "mean cos %.4f / min %.4f / NN %.3f", meanCosine, minCosine, nearestNeighbourAgreement)
  }
}
