import Foundation
import QATKit

/// What a plugin kernel pays to find each element's range group from outside the QATKit
/// module: `y[i] = x[i] · scale[group(i)]` over a 4096×4096 tensor, per channel (axis 0 and
/// axis 1) and per block of 32, with the group from a non-inlined call per element
/// (`group_layout_per_element_call_*`, the cost before ``GroupLayout/group(_:)`` was
/// `@inlinable`), from the inlined ``GroupLayout/group(_:)`` (`group_layout_per_element_*`) or
/// from ``GroupLayout/groups`` (`group_layout_sequence_*`).
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
        Item(key: key.replacingOccurrences(of: "per_element", with: "per_element_call")) {
          [perElement(key.replacingOccurrences(of: "per_element", with: "per_element_call"), g, scale: scale, how: .call)]
        },
        Item(key: key) { [perElement(key, g, scale: scale, how: .inlined)] },
        Item(key: key.replacingOccurrences(of: "per_element", with: "sequence")) {
          [perElement(key.replacingOccurrences(of: "per_element", with: "sequence"), g, scale: scale, how: .sequence)]
        },
      ]
    }
  }

  /// How the kernel finds each element's group.
  enum Access {
    /// A function call per element that is not inlined: what `group(_:)` cost from another
    /// module before it was `@inlinable`.
    case call
    /// `layout.group(i)`, inlined.
    case inlined
    /// The next value of `layout.groups`.
    case sequence
  }

  @inline(never) static func opaqueGroup(_ layout: GroupLayout, _ i: Int) -> Int { layout.group(i) }

  static func perElement(_ key: String, _ granularity: QuantGranularity, scale: Double, how: Access) -> BenchResult {
    let layout = GroupLayout(granularity, shape: [rows, cols])
    let x = FakeQuantBench.inputs().x
    let scales = (0..<layout.groupCount).map { Float($0 % 7) * 0.125 + 0.5 }
    var y = [Float](repeating: 0, count: x.count)
    let t = x.withUnsafeBufferPointer { px in
      scales.withUnsafeBufferPointer { ps in
        y.withUnsafeMutableBufferPointer { py in
          Timing.measure(runs: 7, warmup: 2, scale: scale) {
            switch how {
            case .call:
              for i in 0..<px.count { py[i] = px[i] * ps[opaqueGroup(layout, i)] }
            case .inlined:
              for i in 0..<px.count { py[i] = px[i] * ps[layout.group(i)] }
            case .sequence:
              var groups = layout.groups.makeIterator()
              for i in 0..<px.count { py[i] = px[i] * ps[groups.next()!] }
            }
          }
        }
      }
    }
    Sink.consume(y[12345])
    let source = ["a non-inlined call per element (the cost before group(_:) was @inlinable)", "layout.group(i), inlined", "the next of layout.groups (no division)"]
    let work = "y[i] = x[i] * scale[group], group from \(source[how == .call ? 0 : how == .inlined ? 1 : 2]), \(granularity), 4096x4096 float32"
    return BenchResult(key, t, unit: "GB/s", value: 2.0 * Double(rows * cols * 4) / t.median / 1e9, higherIsBetter: true, work: work)
  }
}
