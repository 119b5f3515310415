import Foundation
import QATKit

/// What a plugin kernel pays to find each element's range group from outside the QATKit
/// module: `y[i] = x[i] · scale[group(i)]` over a 4096×4096 tensor, per channel (axis 0 and
/// axis 1) and per block of 32, with ``GroupLayout/group(_:)`` called per element
/// (`group_layout_per_element_*`) or ``GroupLayout/groups`` iterated (`group_layout_sequence_*`).
///
/// GB/s = 2 · 64 MiB / time (read x, write y), as the fake-quant items.
enum GroupLayoutBench {
  static let rows = 4096, cols = 4096

  static func items(scale: Double) -> [Item] {
    let cases: [(String, QuantGranularity)] = [
      ("group_layout_per_element_channel_axis0", .perChannel(axis: 0)),
      ("group_layout_per_element_channel_axis1", .perChannel(axis: 1)),
      ("group_layout_per_element_block32", .perBlock(size: 32)),
    ]
    return cases.flatMap { key, g in
      [
        Item(key: key) { [perElement(key, g, scale: scale, sequential: false)] },
        Item(key: key.replacingOccurrences(of: "per_element", with: "sequence")) {
          [perElement(key.replacingOccurrences(of: "per_element", with: "sequence"), g, scale: scale, sequential: true)]
        },
      ]
    }
  }

  static func perElement(_ key: String, _ granularity: QuantGranularity, scale: Double, sequential: Bool) -> BenchResult {
    let layout = GroupLayout(granularity, shape: [rows, cols])
    let x = FakeQuantBench.inputs().x
    let scales = (0..<layout.groupCount).map { Float($0 % 7) * 0.125 + 0.5 }
    var y = [Float](repeating: 0, count: x.count)
    let t = x.withUnsafeBufferPointer { px in
      scales.withUnsafeBufferPointer { ps in
        y.withUnsafeMutableBufferPointer { py in
          Timing.measure(runs: 7, warmup: 2, scale: scale) {
            if sequential {
              var groups = layout.groups.makeIterator()
              for i in 0..<px.count { py[i] = px[i] * ps[groups.next()!] }
            } else {
              for i in 0..<px.count { py[i] = px[i] * ps[layout.group(i)] }
            }
          }
        }
      }
    }
    Sink.consume(y[12345])
    let how = sequential ? "the next of layout.groups (no division)" : "layout.group(i)"
    let work = "y[i] = x[i] * scale[group], group from \(how), \(granularity), 4096x4096 float32, from another module"
    return BenchResult(key, t, unit: "GB/s", value: 2.0 * Double(rows * cols * 4) / t.median / 1e9, higherIsBetter: true, work: work)
  }
}
