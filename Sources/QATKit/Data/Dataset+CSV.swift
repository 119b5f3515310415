import Foundation

extension Dataset {
  /// Parses CSV text with a header row: numeric feature columns and one integer label column.
  ///
  /// - Parameters:
  ///   - text: The CSV (comma-separated, `\n` or `\r\n` line ends).
  ///   - labelColumn: The header name of the label column.
  /// - Throws: ``DataError/csv(line:_:)`` naming the line and the problem (missing label
  ///   column, wrong field count, a non-numeric value).
  public init(csv text: String, labelColumn: String = "label") throws {
    // Blank lines are skipped but keep their place in the 1-based line numbers of errors.
    let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
      .map { (number: $0.offset + 1, text: $0.element.trimmingCharacters(in: .whitespaces)) }
      .filter { !$0.text.isEmpty }
    guard let header = lines.first?.text, let headerLine = lines.first?.number else {
      throw DataError.csv(line: 1, "empty file")
    }
    let names = header.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    guard let labelIndex = names.firstIndex(of: labelColumn) else {
      throw DataError.csv(line: headerLine, "no column '\(labelColumn)' in header (\(names.prefix(6).joined(separator: ", "))...)")
    }
    let d = names.count - 1
    var features: [Float] = []
    features.reserveCapacity((lines.count - 1) * d)
    var labels: [Int] = []
    for (lineNumber, line) in lines.dropFirst() {
      let fields = line.split(separator: ",", omittingEmptySubsequences: false)
      guard fields.count == names.count else {
        throw DataError.csv(line: lineNumber, "\(fields.count) fields, header has \(names.count)")
      }
      for (j, f) in fields.enumerated() {
        let s = f.trimmingCharacters(in: .whitespaces)
        if j == labelIndex {
          guard let y = Int(s) else { throw DataError.csv(line: lineNumber, "label '\(s)' is not an integer") }
          labels.append(y)
        } else {
          guard let v = Float(s), v.isFinite else { throw DataError.csv(line: lineNumber, "'\(s)' in column \(names[j]) is not a number") }
          features.append(v)
        }
      }
    }
    try self.init(features: features, labels: labels, featureCount: d)
  }

  /// Loads a CSV file (see ``init(csv:labelColumn:)``).
  public init(contentsOf url: URL, labelColumn: String = "label") throws {
    let text: String
    do { text = try String(contentsOf: url, encoding: .utf8) } catch {
      throw DataError.resource("cannot read \(url.path): \(error.localizedDescription)")
    }
    try self.init(csv: text, labelColumn: labelColumn)
  }

  /// The rows at `indices`, in that order.
  ///
  /// - Throws: ``DataError/shape(_:)`` for an index out of range.
  public func subset(_ indices: [Int]) throws -> Dataset {
    if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
      throw DataError.shape("row index \(bad) out of 0..<\(count)")
    }
    let b = batch(indices)
    return try Dataset(features: b.inputs.storage, labels: b.labels, featureCount: featureCount)
  }
}
