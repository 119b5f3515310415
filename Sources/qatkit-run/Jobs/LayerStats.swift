import Foundation
import QATKit

/// Per-quantizer ranges and quantization error (SQNR) of a quantized model, measured by
/// wrapping each quantizer in a probe for one pass over data.
enum LayerStats {
  /// For every enabled quantizer: its range and the SQNR `10·log10(Σx² / Σ(x − q(x))²)` of
  /// what it saw on `inputs` (a weight quantizer sees its weight).
  static func measure(_ model: Module, inputs: Tensor) -> [(path: String, format: String, stats: QuantizerStats)] {
    var probes: [(Module, String, any Quantizer, Probe)] = []
    for (modulePath, m) in model.namedModules() {
      for slot in m.quantizerSlots where slot.quantizer.isEnabled {
        let path = modulePath.isEmpty ? slot.name : "\(modulePath).\(slot.name)"
        let probe = Probe(slot.quantizer, path: path)
        probes.append((m, slot.name, slot.quantizer, probe))
        m.setQuantizer(probe, slot: slot.name)
      }
    }
    let wasTraining = model.training
    model.eval()
    _ = Tensor.withoutGrad { model(inputs) }
    model.train(wasTraining)
    for (m, slot, original, _) in probes { m.setQuantizer(original, slot: slot) }
    return probes.map { _, _, q, probe in
      let amax = q.stateTensors().first { $0.0 == "_amax" }?.1.scalars
      let a = q.attributes
      var format = "\(a.format)"
      switch a.granularity {
      case .perTensor: format += " · per tensor"
      case .perChannel(let axis): format += " · axis \(axis)"
      case .perBlock(let size): format += " · blocks of \(size)"
      }
      if a.dynamic { format += " · dynamic" }
      if a.algorithm != "static" { format += " · \(a.algorithm)" }
      return (probe.path, format, QuantizerStats(amaxMin: amax?.min(), amaxMax: amax?.max(), sqnr: probe.sqnr))
    }
  }

  /// Forwards to a quantizer and accumulates signal and noise energy.
  private final class Probe: Quantizer {
    let inner: any Quantizer
    let path: String
    var signal: Double = 0
    var noise: Double = 0
    var isEnabled: Bool {
      get { inner.isEnabled }
      set { inner.isEnabled = newValue }
    }
    var attributes: QuantizerAttributes { inner.attributes }

    init(_ inner: any Quantizer, path: String) {
      self.inner = inner
      self.path = path
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
      let y = inner(x)
      var s: Double = 0, n: Double = 0
      x.scalars.withUnsafeBufferPointer { xp in
        y.scalars.withUnsafeBufferPointer { yp in
          for i in 0..<xp.count {
            let v = Double(xp[i]), d = v - Double(yp[i])
            s += v * v
            n += d * d
          }
        }
      }
      signal += s
      noise += n
      return y
    }

    func stateTensors() -> [(String, Tensor)] { inner.stateTensors() }

    /// In dB; 200 dB stands for "no error" (identical values).
    var sqnr: Double {
      guard noise > 0 else { return 200 }
      guard signal > 0 else { return 0 }
      return 10 * log10(signal / noise)
    }
  }

  /// Pairs the stats of the same quantizers in two models (before and after QAT).
  static func compare(
    before: Module, after: Module, inputs: Tensor, recipe: String, ranges: String, afterStage: String
  ) -> [LayerComparison] {
    let a = measure(before, inputs: inputs)
    let b = Dictionary(measure(after, inputs: inputs).map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
    return a.compactMap { x in
      guard let y = b[x.path] else { return nil }
      return LayerComparison(
        recipe: recipe, ranges: ranges, afterStage: afterStage, path: x.path, format: x.format, before: x.stats, after: y.stats)
    }
  }
}
