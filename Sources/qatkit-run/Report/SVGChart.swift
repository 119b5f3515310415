import Foundation

/// Small inline-SVG charts for the HTML report (no JavaScript, no external resources).
enum SVGChart {
  /// One line of a chart.
  struct Series {
    var name: String
    var color: String
    var points: [(x: Double, y: Double)]
    var dashed = false
  }

  /// A horizontal reference line (e.g. the FP32 accuracy).
  struct Reference {
    var name: String
    var color: String
    var y: Double
  }

  /// Escapes text for HTML and SVG.
  static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  /// About five round tick values covering `lo...hi`.
  static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
    let span = max(hi - lo, 1e-12)
    let raw = span / Double(count)
    let mag = pow(10, floor(log10(raw)))
    let step = [1, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
    var t = ceil(lo / step - 1e-9) * step
    var out: [Double] = []
    while t <= hi + 1e-9 * span {
      out.append(abs(t) < step * 1e-9 ? 0 : t)
      t += step
    }
    return out
  }

  private static func f(_ x: Double) -> String { String(format: "%.1f", x) }

  /// A line chart with axes, grid, optional reference lines and a legend.
  static func lines(
    title: String, xLabel: String, series: [Series], references: [Reference] = [], yFormat: (Double) -> String,
    yRange: ClosedRange<Double>? = nil, width: Double = 520, height: Double = 260
  ) -> String {
    let left = 56.0, right = 16.0, top = 34.0, bottom = 58.0
    let plotW = width - left - right, plotH = height - top - bottom
    let xs = series.flatMap { $0.points.map(\.x) }
    var ys = series.flatMap { $0.points.map(\.y) } + references.map(\.y)
    if ys.isEmpty { ys = [0, 1] }
    let x0 = xs.min() ?? 0, x1 = max(xs.max() ?? 1, x0 + 1)
    var y0 = yRange?.lowerBound ?? ys.min()!, y1 = yRange?.upperBound ?? ys.max()!
    if yRange == nil {
      let pad = max((y1 - y0) * 0.08, abs(y1) * 0.01, 1e-6)
      y0 -= pad
      y1 += pad
    }
    func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotW }
    func py(_ y: Double) -> Double { top + (1 - (min(max(y, y0), y1) - y0) / (y1 - y0)) * plotH }
    var s = #"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 \#(f(width)) \#(f(height))" width="\#(f(width))" height="\#(f(height))" role="img" aria-label="\#(escape(title))">"#
    s += #"<text x="\#(f(left))" y="20" class="ct">\#(escape(title))</text>"#
    for t in ticks(y0, y1) {
      s += #"<line x1="\#(f(left))" x2="\#(f(left + plotW))" y1="\#(f(py(t)))" y2="\#(f(py(t)))" class="grid"/>"#
      s += #"<text x="\#(f(left - 6))" y="\#(f(py(t) + 4))" class="tick" text-anchor="end">\#(escape(yFormat(t)))</text>"#
    }
    for t in ticks(x0, x1, count: 6) where t == t.rounded() {
      s += #"<text x="\#(f(px(t)))" y="\#(f(top + plotH + 16))" class="tick" text-anchor="middle">\#(Int(t))</text>"#
    }
    s += #"<line x1="\#(f(left))" x2="\#(f(left + plotW))" y1="\#(f(top + plotH))" y2="\#(f(top + plotH))" class="axis"/>"#
    s += #"<text x="\#(f(left + plotW / 2))" y="\#(f(top + plotH + 32))" class="tick" text-anchor="middle">\#(escape(xLabel))</text>"#
    for r in references {
      s += #"<line x1="\#(f(left))" x2="\#(f(left + plotW))" y1="\#(f(py(r.y)))" y2="\#(f(py(r.y)))" stroke="\#(r.color)" class="ref"/>"#
    }
    for se in series {
      if se.points.count == 1 {
        let p = se.points[0]
        s += #"<circle cx="\#(f(px(p.x)))" cy="\#(f(py(p.y)))" r="3" fill="\#(se.color)"/>"#
        continue
      }
      let d = se.points.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(f(px($0.element.x))),\(f(py($0.element.y)))" }.joined()
      s += #"<path d="\#(d)" fill="none" stroke="\#(se.color)" stroke-width="2"\#(se.dashed ? #" stroke-dasharray="5 4""# : "") stroke-linejoin="round"/>"#
    }
    // Legend under the plot.
    var lx = left
    let ly = height - 10
    for (name, color, dashed) in series.map({ ($0.name, $0.color, $0.dashed) }) + references.map({ ($0.name, $0.color, true) }) {
      s += #"<line x1="\#(f(lx))" x2="\#(f(lx + 18))" y1="\#(f(ly - 4))" y2="\#(f(ly - 4))" stroke="\#(color)" stroke-width="2"\#(dashed ? #" stroke-dasharray="4 3""# : "")/>"#
      s += #"<text x="\#(f(lx + 23))" y="\#(f(ly))" class="leg">\#(escape(name))</text>"#
      lx += 32 + Double(name.count) * 6.3
    }
    return s + "</svg>"
  }

  /// Horizontal paired bars: one row per label, a "before" and an "after" bar.
  static func pairedBars(
    title: String, rows: [(label: String, before: Double, after: Double)], beforeName: String, afterName: String,
    beforeColor: String, afterColor: String, format: (Double) -> String, width: Double = 520
  ) -> String {
    let labelW = min(200, 12 + Double(rows.map(\.label.count).max() ?? 10) * 6.4)
    let rowH = 34.0, top = 34.0, bottom = 30.0, right = 58.0
    let height = top + Double(rows.count) * rowH + bottom
    let plotW = width - labelW - right
    let hi = max(rows.flatMap { [$0.before, $0.after] }.max() ?? 1, 1e-9)
    func w(_ v: Double) -> Double { max(0, v) / hi * plotW }
    var s = #"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 \#(f(width)) \#(f(height))" width="\#(f(width))" height="\#(f(height))" role="img" aria-label="\#(escape(title))">"#
    s += #"<text x="8" y="20" class="ct">\#(escape(title))</text>"#
    for (i, r) in rows.enumerated() {
      let y = top + Double(i) * rowH
      s += #"<text x="\#(f(labelW - 8))" y="\#(f(y + 20))" class="tick" text-anchor="end">\#(escape(r.label))</text>"#
      s += #"<rect x="\#(f(labelW))" y="\#(f(y + 4))" width="\#(f(w(r.before)))" height="11" rx="2" fill="\#(beforeColor)"/>"#
      s += #"<text x="\#(f(labelW + w(r.before) + 4))" y="\#(f(y + 13))" class="val">\#(escape(format(r.before)))</text>"#
      s += #"<rect x="\#(f(labelW))" y="\#(f(y + 17))" width="\#(f(w(r.after)))" height="11" rx="2" fill="\#(afterColor)"/>"#
      s += #"<text x="\#(f(labelW + w(r.after) + 4))" y="\#(f(y + 26))" class="val">\#(escape(format(r.after)))</text>"#
    }
    let ly = height - 10
    s += #"<rect x="\#(f(labelW))" y="\#(f(ly - 9))" width="12" height="9" rx="2" fill="\#(beforeColor)"/>"#
    s += #"<text x="\#(f(labelW + 17))" y="\#(f(ly))" class="leg">\#(escape(beforeName))</text>"#
    let ax = labelW + 30 + Double(beforeName.count) * 6.3
    s += #"<rect x="\#(f(ax))" y="\#(f(ly - 9))" width="12" height="9" rx="2" fill="\#(afterColor)"/>"#
    s += #"<text x="\#(f(ax + 17))" y="\#(f(ly))" class="leg">\#(escape(afterName))</text>"#
    return s + "</svg>"
  }
}
