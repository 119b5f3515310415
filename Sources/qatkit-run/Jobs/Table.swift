import Foundation

/// A plain-text table with aligned columns.
struct Table {
  var header: [String]
  var rows: [[String]] = []

  mutating func add(_ row: [String]) { rows.append(row) }

  func render() -> String {
    let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
    func line(_ r: [String]) -> String {
      r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
        .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
    let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
    return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
  }
}

func pct(_ x: Float) -> String { String(format: "%.2f%%", 100 * x) }
func secs(_ t: Double) -> String { String(format: "%.2f s", t) }

func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
  let t0 = Date()
  let r = try body()
  return (r, Date().timeIntervalSince(t0))
}
