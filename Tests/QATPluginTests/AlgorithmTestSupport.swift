import Foundation
import QATKit
import QATPlugins
import QATRegistry
import QATTestSupport

/// The digits MLP PyTorch trained, the calibration rows and per-layer error measurements shared
/// by the AWQ, SmoothQuant and GPTQ tests.
enum DigitsAlgorithmBench {
  /// The PyTorch-trained MLP 64-256-256-10.
  static func model() throws -> MLP {
    let m = MLP([64, 256, 256, 10])
    try restore(m, from: Fixtures.url("models/mlp_digits_fp32.safetensors", in: .module))
    return m
  }

  /// The first `count` training rows (calibration data) and the test split.
  static func data(calibrationRows count: Int = 128) throws -> (calibration: Tensor, test: Dataset) {
    let (train, test) = try Digits.load()
    let first = try train.batches(size: count).first!.inputs
    return (first, test)
  }

  /// A forward loop over `rows` in batches of `batch`.
  static func loop(_ rows: Tensor, batch: Int = 64) -> (Module) throws -> Void {
    { m in
      var start = 0
      while start < rows.shape[0] {
        let end = min(rows.shape[0], start + batch)
        _ = m(rows.slice(axis: 0, start..<end))
        start = end
      }
    }
  }

  /// `Σ‖q.layers[i](x_i) − fp.layers[i](x_i)‖²` per layer on the full-precision model's inputs
  /// `x_i`: the error each quantized layer adds on its own.
  static func layerErrors(fp: MLP, quantized q: MLP, on x: Tensor) -> [Double] {
    Tensor.withoutGrad {
      var h = x
      var out: [Double] = []
      for (i, layer) in fp.layers.enumerated() {
        let reference = layer(h)
        let y = q.layers[i](h)
        out.append(zip(y.scalars, reference.scalars).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) })
        h = i + 1 < fp.layers.count ? reference.relu() : reference
      }
      return out
    }
  }

  /// A fresh copy of `m` (same weights, no modes).
  static func copy(_ m: MLP) throws -> MLP {
    let c = MLP([64, 256, 256, 10])
    try c.loadStateDict(Dictionary(uniqueKeysWithValues: m.stateDict().map { ($0.0, $0.1.copy()) }))
    return c
  }

  /// Converts a copy of `fp` with `config`.
  static func quantized(_ fp: MLP, _ config: QuantizeConfig, calibration: Tensor, registry: Registry = InTreePlugins.registry) throws -> MLP {
    let m = try copy(fp)
    try convert(m, modes: [.quantize(config)], registry: registry, forwardLoop: loop(calibration))
    return m
  }

  /// Bit patterns of every value of the state dict, by name.
  static func bits(_ m: Module) -> [String: [UInt32]] {
    Dictionary(uniqueKeysWithValues: m.stateDict().map { ($0.0, $0.1.scalars.map(\.bitPattern)) })
  }
}
