public import Foundation
public import QATKit

extension UnifiedCheckpoint {
  /// Re-reads `directory` and checks it against `model`: every tensor's dtype, shape and
  /// bytes; every quantized weight dequantized (as a runtime computes it) against the
  /// fake-quantized weight the model computes with; every quantized layer covered with its
  /// algorithm in `hf_quant_config.json`; every excluded layer matched by `exclude_modules`
  /// and no quantized one; nothing extra.
  ///
  /// - Returns: The number of tensors compared and the largest ULP distance between a
  ///   dequantized and a fake-quantized weight (0 for FP8, NVFP4, MXFP4; at most 4 for INT
  ///   formats, see ``UnifiedExportReport/maxULPDistance``).
  /// - Throws: ``ExportError/verificationFailed(_:)`` naming the first difference.
  @discardableResult
  public static func verify(_ directory: URL, against model: Module) throws -> (tensors: Int, maxULPDistance: Int) {
    try verify(directory, expected: UnifiedExpected(model))
  }

  static func verify(_ directory: URL, expected: UnifiedExpected) throws -> (tensors: Int, maxULPDistance: Int) {
    func fail(_ m: String) -> ExportError { .verificationFailed(m) }
    let contents: UnifiedCheckpointContents
    do { contents = try read(directory) } catch { throw fail("re-reading the checkpoint failed: \(error)") }
    // Every tensor, bit for bit.
    let names = contents.tensorNames
    let expectedNames = Set(expected.tensors.map(\.name))
    if let missing = expectedNames.subtracting(names).sorted().first { throw fail("tensor '\(missing)' is missing") }
    if let extra = names.subtracting(expectedNames).sorted().first { throw fail("unexpected tensor '\(extra)'") }
    for t in expected.tensors {
      guard let (dtype, shape, bytes) = try contents.raw(t.name) else { throw fail("tensor '\(t.name)' is missing") }
      guard dtype == t.dtype, shape == t.shape else {
        throw fail("tensor '\(t.name)' is \(dtype.rawValue) \(shape), expected \(t.dtype.rawValue) \(t.shape)")
      }
      if let i = bytes.indices.first(where: { bytes[$0] != t.bytes[$0] }) {
        throw fail("tensor '\(t.name)' differs at byte \(i): \(bytes[i]) instead of \(t.bytes[i])")
      }
    }
    // Dequantized weights against the fake-quantized ones; algorithms and coverage.
    let byPath = Dictionary(contents.layers.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
    guard byPath.count == expected.layers.count else {
      throw fail("the checkpoint has \(byPath.count) quantized layers, the model \(expected.layers.count)")
    }
    var maxULP = 0
    for l in expected.layers {
      let p = l.plan
      guard let got = byPath[p.path] else { throw fail("quantized layer '\(p.path)' is not covered") }
      guard got.algorithm == p.algorithm, got.groupSize == p.groupSize else {
        throw fail("layer '\(p.path)' reads back as \(got.algorithm.rawValue) group \(got.groupSize.map(String.init) ?? "-"), written as \(p.algorithm.rawValue) group \(p.groupSize.map(String.init) ?? "-")")
      }
      let deq = got.weight.scalars
      let exact = !(p.algorithm == .w8a16 || p.algorithm == .w8a8 || p.algorithm == .w4a16AWQ)
      for i in deq.indices {
        let d = ulpDistance(deq[i], l.fake[i])
        if d > (exact ? 0 : 4) {
          throw fail("layer '\(p.path)' element \(i) dequantizes to \(deq[i]); the model's fake-quantized weight is \(l.fake[i])")
        }
        maxULP = Swift.max(maxULP, d)
      }
    }
    let patterns = contents.excludeModules.map(WildcardPattern.init)
    for path in expected.plan.excluded where !patterns.contains(where: { $0.matches(path) }) {
      throw fail("excluded layer '\(path)' is not listed in exclude_modules \(contents.excludeModules)")
    }
    for l in expected.layers {
      if let pat = patterns.first(where: { $0.matches(l.plan.path) }) {
        throw fail("quantized layer '\(l.plan.path)' matches exclude_modules pattern '\(pat.text)'")
      }
    }
    return (expected.tensors.count, maxULP)
  }

  /// The number of representable floats between `a` and `b` (0 when equal, ±0 included).
  static func ulpDistance(_ a: Float, _ b: Float) -> Int {
    if a == b { return 0 }
    guard a.isFinite, b.isFinite else { return Int.max }
    func ordered(_ x: Float) -> Int64 {
      let bits = Int64(x.bitPattern & 0x7FFF_FFFF)
      return x.sign == .minus ? -bits : bits
    }
    return Int(abs(ordered(a) - ordered(b)))
  }
}
