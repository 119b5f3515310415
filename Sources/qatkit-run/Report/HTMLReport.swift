import Foundation

/// The self-contained HTML report of a run: the stage table, loss and accuracy curves per
/// stage, and per-layer ranges and quantization error (SQNR) before and after QAT, as inline
/// SVG and CSS (no JavaScript, nothing fetched from the network).
struct HTMLReport {
  let results: RunResults

  private static let colors = ["FP32": "#475569", "PTQ": "#d97706", "QAT": "#2563eb", "QAT+KD": "#059669"]

  private func e(_ s: String) -> String { SVGChart.escape(s) }
  private func pctText(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }

  /// Writes the report atomically.
  func write(to url: URL) throws {
    try OutputFiles.write(Data(render().utf8), to: url)
  }

  /// The whole document.
  func render() -> String {
    var h = """
      <!DOCTYPE html>
      <html lang="en"><head><meta charset="utf-8">
      <meta name="viewport" content="width=device-width, initial-scale=1">
      <title>QATKit report · \(e(results.model))</title>
      <style>\(Self.css)</style></head><body><main>
      <header><div class="brand">QATKit</div><h1>Quantization-aware training report</h1>
      <p class="cmd"><code>\(e(results.command))</code></p></header>
      """
    h += setup() + tiles() + stageTable() + curves() + layers()
    h += """
      <footer>Written by \(e(results.tool)). Self-contained: inline SVG and CSS, no scripts, nothing loaded from the network.
      Accuracies are on the test rows; times are wall-clock seconds per stage.</footer>
      </main></body></html>
      """
    return h
  }

  private func setup() -> String {
    var h = #"<section class="card setup"><h2>Setup</h2><dl>"#
    h += "<dt>Data</dt><dd>\(e(results.data))</dd>"
    h += "<dt>Model</dt><dd>\(e(results.model)), \(results.parameters) parameters</dd>"
    for s in results.settings {
      let parts = s.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      if parts.count == 2 { h += "<dt>\(e(parts[0]))</dt><dd>\(e(parts[1]))</dd>" } else { h += "<dt></dt><dd>\(e(s))</dd>" }
    }
    return h + "</dl></section>"
  }

  private func tiles() -> String {
    var h = #"<section class="tiles">"#
    for stage in ["FP32", "PTQ", "QAT", "QAT+KD"] {
      guard let best = results.stages.filter({ $0.stage == stage }).max(by: { $0.accuracy < $1.accuracy }) else { continue }
      let color = Self.colors[stage] ?? "#334155"
      let sub = stage == "FP32" ? "baseline" : "best: \(best.recipe) · \(best.ranges)"
      h += #"<div class="tile" style="border-top-color:\#(color)"><div class="tl">\#(stage)</div><div class="tv">\#(pctText(Double(best.accuracy)))</div><div class="ts">\#(e(sub))</div></div>"#
    }
    return h + "</section>"
  }

  private func stageTable() -> String {
    var h = #"<section class="card"><h2>Stages</h2><table class="stages"><thead><tr><th>stage</th><th>recipe</th><th>ranges</th><th class="acc">test accuracy</th>"#
    if results.hasReference { h += #"<th class="num">PyTorch + ModelOpt</th>"# }
    h += #"<th class="num">time</th><th>checkpoint</th></tr></thead><tbody>"#
    for s in results.stages {
      let color = Self.colors[s.stage] ?? "#334155"
      let width = max(0, min(100, Double(s.accuracy) * 100))
      h += "<tr><td><span class=\"badge\" style=\"background:\(color)\">\(e(s.stage))</span></td>"
      h += "<td>\(e(s.recipe))</td><td class=\"muted nw\">\(e(s.ranges))</td>"
      h += #"<td class="acc"><div class="bar"><div style="width:\#(String(format: "%.1f", width))%;background:\#(color)"></div></div><span>\#(pct(s.accuracy))</span></td>"#
      if results.hasReference { h += "<td class=\"num\">\(s.reference.map(pct) ?? "–")</td>" }
      h += "<td class=\"num\">\(secs(s.seconds))</td><td class=\"file nw\">\(e(s.checkpoint ?? ""))</td></tr>"
    }
    return h + "</tbody></table></section>"
  }

  /// The (recipe, ranges) groups in order.
  private var groups: [(recipe: String, ranges: String)] {
    var seen: [(String, String)] = []
    for s in results.stages where s.stage != "FP32" && !seen.contains(where: { $0 == (s.recipe, s.ranges) }) {
      seen.append((s.recipe, s.ranges))
    }
    return seen
  }

  private func curves() -> String {
    var h = #"<section class="card"><h2>Training curves</h2><p class="note">Mean training loss and test accuracy after each epoch. Dashed lines: the FP32 model and the PTQ model before fine-tuning.</p>"#
    let fp32 = results.stages.first { $0.stage == "FP32" }
    if let fp32, !fp32.curve.isEmpty {
      h += #"<h3>FP32</h3><div class="pair">"#
      h += SVGChart.lines(
        title: "training loss", xLabel: "epoch",
        series: [.init(name: "FP32", color: Self.colors["FP32"]!, points: fp32.curve.map { (Double($0.epoch), Double($0.loss)) })],
        yFormat: { String(format: "%.3g", $0) })
      h += SVGChart.lines(
        title: "test accuracy", xLabel: "epoch",
        series: [.init(name: "FP32", color: Self.colors["FP32"]!, points: fp32.curve.map { (Double($0.epoch), Double($0.accuracy)) })],
        yFormat: pctText)
      h += "</div>"
    }
    for g in groups {
      let stages = results.stages.filter { $0.recipe == g.recipe && $0.ranges == g.ranges }
      let trained = stages.filter { !$0.curve.isEmpty }
      guard !trained.isEmpty else { continue }
      var refs: [SVGChart.Reference] = []
      if let fp32 { refs.append(.init(name: "FP32", color: Self.colors["FP32"]!, y: Double(fp32.accuracy))) }
      if let ptq = stages.first(where: { $0.stage == "PTQ" }) { refs.append(.init(name: "PTQ", color: Self.colors["PTQ"]!, y: Double(ptq.accuracy))) }
      h += #"<h3>\#(e(g.recipe)) <span class="muted">· \#(e(g.ranges))</span></h3><div class="pair">"#
      h += SVGChart.lines(
        title: "training loss", xLabel: "epoch",
        series: trained.map { .init(name: $0.stage, color: Self.colors[$0.stage] ?? "#334155", points: $0.curve.map { (Double($0.epoch), Double($0.loss)) }) },
        yFormat: { String(format: "%.3g", $0) })
      h += SVGChart.lines(
        title: "test accuracy", xLabel: "epoch",
        series: trained.map { .init(name: $0.stage, color: Self.colors[$0.stage] ?? "#334155", points: $0.curve.map { (Double($0.epoch), Double($0.accuracy)) }) },
        references: refs, yFormat: pctText)
      h += "</div>"
    }
    return h + "</section>"
  }

  private func layers() -> String {
    guard !results.layers.isEmpty else { return "" }
    var h = #"<section class="card"><h2>Per-layer ranges and quantization error</h2><p class="note">For every enabled quantizer: its range (<code>amax</code>, smallest and largest over channels) and the signal-to-quantization-noise ratio SQNR = 10·log10(Σx² / Σ(x − q(x))²) of what it quantizes on the test rows (at most 1024; a weight quantizer: its weight), after PTQ and after fine-tuning (QAT + KD, or QAT when there is no KD stage). Higher SQNR is less quantization error; learned ranges move, frozen ranges stay and the weights adapt.</p>"#
    for g in groups {
      let rows = results.layers.filter { $0.recipe == g.recipe && $0.ranges == g.ranges }
      guard !rows.isEmpty else { continue }
      let after = rows[0].afterStage
      h += #"<h3>\#(e(g.recipe)) <span class="muted">· \#(e(g.ranges))</span></h3><div class="lpair">"#
      h += SVGChart.pairedBars(
        title: "SQNR (dB)", rows: rows.map { ($0.path, min($0.before.sqnr, 99), min($0.after.sqnr, 99)) },
        beforeName: "PTQ", afterName: after, beforeColor: "#f59e0b", afterColor: Self.colors[after] ?? "#059669",
        format: { String(format: "%.1f", $0) }, width: 400)
      h += #"<div class="scroll"><table class="layers"><thead><tr><th>quantizer</th><th>format</th><th class="num">range (amax)<br><span class="sub">PTQ → \#(e(after))</span></th><th class="num">SQNR, dB<br><span class="sub">PTQ → \#(e(after))</span></th></tr></thead><tbody>"#
      for r in rows {
        let delta = r.after.sqnr - r.before.sqnr
        let cls = abs(delta) < 0.05 ? "" : (delta > 0 ? "up" : "down")
        let before = range(r.before), afterRange = range(r.after)
        h += "<tr><td class=\"file\">\(e(r.path))</td><td class=\"muted\">\(e(r.format))</td>"
        h += "<td class=\"num\">\(before == afterRange ? "\(before) <span class=\"muted\">(same)</span>" : "\(before) → \(afterRange)")</td>"
        h += "<td class=\"num\">\(db(r.before.sqnr)) → <span class=\"\(cls)\">\(db(r.after.sqnr))</span></td></tr>"
      }
      h += "</tbody></table></div></div>"
    }
    return h + "</section>"
  }

  private func range(_ s: QuantizerStats) -> String {
    guard let lo = s.amaxMin, let hi = s.amaxMax else { return "dynamic" }
    return lo == hi ? String(format: "%.3g", lo) : String(format: "%.3g–%.3g", lo, hi)
  }

  private func db(_ x: Double) -> String { x >= 200 ? "exact" : String(format: "%.1f", x) }

  private static let css = """
    :root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc}
    *{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
    main{max-width:1120px;margin:0 auto;padding:28px 24px 40px}
    header{margin-bottom:18px}.brand{font-weight:700;letter-spacing:.08em;text-transform:uppercase;color:#2563eb;font-size:12px}
    h1{font-size:26px;margin:4px 0 6px}h2{font-size:18px;margin:0 0 12px}h3{font-size:15px;margin:20px 0 6px}
    .cmd code{background:#0f172a;color:#e2e8f0;padding:6px 10px;border-radius:6px;display:inline-block;font-size:12.5px;white-space:pre-wrap;word-break:break-all}
    code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
    .card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin:16px 0;box-shadow:0 1px 2px rgba(15,23,42,.04)}
    .setup dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}.setup dt{color:var(--muted)}.setup dd{margin:0}
    .tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:12px}
    .tile{background:#fff;border:1px solid var(--line);border-top:4px solid;border-radius:10px;padding:12px 14px}
    .tl{font-size:12px;font-weight:600;color:var(--muted);letter-spacing:.04em}.tv{font-size:28px;font-weight:700;margin:2px 0}.ts{font-size:12px;color:var(--muted)}
    table{border-collapse:collapse;width:100%}th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
    th{font-size:12px;color:var(--muted);font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
    .muted{color:var(--muted)}.nw{white-space:nowrap}.file{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
    .badge{color:#fff;border-radius:4px;padding:1px 7px;font-size:12px;font-weight:600;white-space:nowrap}
    td.acc{min-width:190px;white-space:nowrap}td.acc span{font-variant-numeric:tabular-nums;margin-left:8px}
    .bar{display:inline-block;width:110px;height:8px;background:#f1f5f9;border-radius:4px;overflow:hidden;vertical-align:middle}.bar div{height:100%}
    .pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px 20px;align-items:start}
    .chart{background:#fff;width:100%;height:auto;display:block}
    .lpair{display:grid;grid-template-columns:minmax(300px,380px) 1fr;gap:12px 24px;align-items:start}
    .scroll{overflow-x:auto}th .sub{font-weight:400}table.layers td,table.layers th{white-space:nowrap;font-size:12.5px;padding:5px 7px}.chart .ct{font-size:13px;font-weight:600;fill:var(--ink)}
    .chart .tick,.chart .leg,.chart .val{font-size:11px;fill:#475569}.chart .grid{stroke:#eef2f7}.chart .axis{stroke:#94a3b8}
    .chart .ref{stroke-dasharray:5 4;stroke-width:1.5;opacity:.9}
    .note{color:var(--muted);margin:0 0 8px}.up{color:#047857;font-weight:600}.down{color:#b45309;font-weight:600}
    footer{color:var(--muted);font-size:12px;margin-top:24px}
    """
}
