import Foundation

extension Module {
  /// A table of the model's quantizers for the command line: path, algorithm, format,
  /// granularity, range (min…max of `_amax`, or `dynamic` / `uncalibrated`) and state.
  public func quantizerSummary() -> String {
    var lines = ["path | algorithm | format | granularity | amax | enabled"]
    for (path, q) in namedQuantizers() {
      let a = q.attributes
      let amax: String
      if let t = q.stateTensors().first(where: { $0.0 == "_amax" })?.1 {
        let v = t.scalars
        let lo = v.min() ?? 0, hi = v.max() ?? 0
        amax = v.count == 1 ? String(format: "%.4g", hi) : String(format: "%.4g…%.4g (%@)", lo, hi, "\(t.shape)")
      } else if a.dynamic {
        amax = "dynamic"
      } else if !a.format.usesAmax {
        amax = "per-block"
      } else {
        amax = "uncalibrated"
      }
      let narrow = a.narrowRange ? " narrow" : ""
      lines.append(
        "\(path) | \(a.algorithm) | \(a.format)\(narrow) | \(a.granularity) | \(amax) | \(q.isEnabled ? "on" : "off")")
    }
    return lines.joined(separator: "\n")
  }
}

/// The real quantized weights of every enabled weight quantizer, keyed by the weight's path
/// (`fc1.weight`), each verified: its dequantized codes equal the fake-quantized weight the
/// model computes with (a self-verifying export).
///
/// - Throws: ``QuantizerError/exportMismatch(path:_:)`` when the verification fails, or the
///   quantizer's export error.
public func exportQuantized(_ model: Module) throws -> [String: QuantizedTensor] {
  var out: [String: QuantizedTensor] = [:]
  for (modulePath, m) in model.namedModules() {
    for (slot, q) in m.quantizerSlots where q.isEnabled {
      guard let w = QuantizeMode.parameter(of: m, slot: slot) else { continue }
      let name = String(slot.dropLast("_quantizer".count))
      let key = modulePath.isEmpty ? name : "\(modulePath).\(name)"
      let qt = try q.export(w)
      let fake = Tensor.withoutGrad { q(w) }.scalars
      let deq = qt.dequantize().scalars
      if let i = fake.indices.first(where: { !(fake[$0] == deq[$0] || (fake[$0].isNaN && deq[$0].isNaN)) }) {
        throw QuantizerError.exportMismatch(path: key, "element \(i): fake quant \(fake[i]), dequantized \(deq[i])")
      }
      out[key] = qt
    }
  }
  return out
}
