import Foundation

extension Dataset {
  /// Parses CSV text with a header row: numeric feature columns and one label column chosen
  /// by name.
  ///
  /// Labels may be integers (class indices ≥ 0, used as they are) or names (`setosa`,
  /// `versicolor`, ...), which are mapped to indices in sorted order and recorded in
  /// ``labelNames``; pass `classes` to use a recorded mapping instead (e.g. a test file
  /// mapped like the training file). Fields are comma-separated; a field in double quotes may
  /// contain commas (`""` is a quote); spaces around fields, blank lines and `\r\n` line ends
  /// are accepted.
  ///
  /// - Parameters:
  ///   - text: The CSV.
  ///   - labelColumn: The header name of the label column.
  ///   - ignoring: Header names of columns to leave out (ids, free text).
  ///   - classes: The class names in label order; every label must be one of them.
  /// - Throws: ``DataError/empty(_:)`` (no header or no rows),
  ///   ``DataError/missingColumn(_:available:)``, ``DataError/raggedRow(line:fields:expected:)``,
  ///   ``DataError/notANumber(line:column:value:)``, ``DataError/label(line:_:)`` (negative or
  ///   fractional numbers, integers mixed with names, a name not in `classes`), and
  ///   ``DataError/csv(line:_:)`` for a malformed header (duplicate or empty names).
  public init(csv text: String, labelColumn: String = "label", ignoring: [String] = [], classes: [String]? = nil) throws {
    // Blank lines are skipped but keep their place in the 1-based line numbers of errors.
    let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
      .map { (number: $0.offset + 1, text: $0.element.trimmingCharacters(in: .whitespaces)) }
      .filter { !$0.text.isEmpty }
    guard let headerLine = lines.first else {
      throw DataError.empty("the CSV has no header row; the first line must name the columns")
    }
    let names = try CSVLine.fields(headerLine.text, line: headerLine.number)
    if let i = names.firstIndex(where: \.isEmpty) {
      throw DataError.csv(line: headerLine.number, "column \(i + 1) of the header has no name")
    }
    var seen = Set<String>()
    if let dup = names.first(where: { !seen.insert($0).inserted }) {
      throw DataError.csv(line: headerLine.number, "column '\(dup)' appears twice in the header")
    }
    guard let labelIndex = names.firstIndex(of: labelColumn) else {
      throw DataError.missingColumn(labelColumn, available: names)
    }
    for name in ignoring where !names.contains(name) {
      throw DataError.missingColumn(name, available: names)
    }
    let featureIndices = names.indices.filter { $0 != labelIndex && !ignoring.contains(names[$0]) }
    guard !featureIndices.isEmpty else {
      throw DataError.shape("no feature columns: the header has only '\(labelColumn)'\(ignoring.isEmpty ? "" : " and ignored columns")")
    }
    guard lines.count > 1 else {
      throw DataError.empty("the CSV has a header but no data rows")
    }
    var features: [Float] = []
    features.reserveCapacity((lines.count - 1) * featureIndices.count)
    var rawLabels: [(line: Int, text: String)] = []
    rawLabels.reserveCapacity(lines.count - 1)
    for (lineNumber, line) in lines.dropFirst() {
      let fields = try CSVLine.fields(line, line: lineNumber)
      guard fields.count == names.count else {
        throw DataError.raggedRow(line: lineNumber, fields: fields.count, expected: names.count)
      }
      for j in featureIndices {
        guard let v = Float(fields[j]), v.isFinite else {
          throw DataError.notANumber(line: lineNumber, column: names[j], value: fields[j])
        }
        features.append(v)
      }
      rawLabels.append((lineNumber, fields[labelIndex]))
    }
    let (labels, labelNames) = try Self.mapLabels(rawLabels, classes: classes)
    try self.init(features: features, labels: labels, sampleShape: [featureIndices.count], labelNames: labelNames)
  }

  /// Loads a CSV file (see ``init(csv:labelColumn:ignoring:classes:)``).
  ///
  /// - Throws: ``DataError/resource(_:)`` when the file cannot be read, else the parse errors.
  public init(contentsOf url: URL, labelColumn: String = "label", ignoring: [String] = [], classes: [String]? = nil) throws {
    let text: String
    do { text = try String(contentsOf: url, encoding: .utf8) } catch {
      throw DataError.resource("cannot read \(url.path): \(error.localizedDescription)")
    }
    try self.init(csv: text, labelColumn: labelColumn, ignoring: ignoring, classes: classes)
  }

  /// Integer labels as they are, or names mapped to indices (sorted, or by `classes`).
  private static func mapLabels(
    _ raw: [(line: Int, text: String)], classes: [String]?
  ) throws -> ([Int], [String]?) {
    if let classes {
      let index = Dictionary(classes.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
      let labels = try raw.map { item -> Int in
        guard let i = index[item.text] else {
          throw DataError.label(
            line: item.line, "'\(item.text)' is not one of the \(classes.count) known classes (\(classes.joined(separator: ", ")))")
        }
        return i
      }
      return (labels, classes)
    }
    let integers = raw.map { Int($0.text) }
    if integers.allSatisfy({ $0 != nil }) {
      if let bad = raw.first(where: { Int($0.text)! < 0 }) {
        throw DataError.label(line: bad.line, "'\(bad.text)' is negative; integer labels are class indices 0, 1, 2, ...")
      }
      return (integers.map { $0! }, nil)
    }
    if let fractional = raw.first(where: { Int($0.text) == nil && Double($0.text) != nil }) {
      throw DataError.label(
        line: fractional.line,
        "'\(fractional.text)' is a fractional number; labels are class indices or names (this looks like a regression target)")
    }
    if let firstInt = raw.first(where: { Int($0.text) != nil }), let firstName = raw.first(where: { Int($0.text) == nil }) {
      throw DataError.label(
        line: Swift.max(firstInt.line, firstName.line),
        "the label column mixes integers ('\(firstInt.text)', line \(firstInt.line)) and names ('\(firstName.text)', line \(firstName.line)); use one kind")
    }
    if let empty = raw.first(where: { $0.text.isEmpty }) {
      throw DataError.label(line: empty.line, "the label is empty")
    }
    let names = Array(Set(raw.map(\.text))).sorted()
    let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.element, $0.offset) })
    return (raw.map { index[$0.text]! }, names)
  }

  /// The samples at `indices`, in that order.
  ///
  /// - Throws: ``DataError/shape(_:)`` for an index out of range.
  public func subset(_ indices: [Int]) throws -> Dataset {
    if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
      throw DataError.shape("row index \(bad) out of 0..<\(count)")
    }
    let b = batch(indices)
    return try Dataset(features: b.inputs.storage, labels: b.labels, sampleShape: sampleShape, labelNames: labelNames)
  }
}

/// Splits one CSV line into trimmed fields (RFC 4180 quoting).
enum CSVLine {
  static func fields(_ line: String, line number: Int) throws -> [String] {
    guard line.contains("\"") else {
      return line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }
    var out: [String] = []
    var field = ""
    var quoted = false
    var wasQuoted = false
    var chars = Array(line)[...]
    while let c = chars.popFirst() {
      if quoted {
        if c == "\"" {
          if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false }
        } else {
          field.append(c)
        }
      } else if c == "\"" {
        guard field.trimmingCharacters(in: .whitespaces).isEmpty else {
          throw DataError.csv(line: number, "a quote inside an unquoted field; quote the whole field")
        }
        field = ""
        quoted = true
        wasQuoted = true
      } else if c == "," {
        out.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
        field = ""
        wasQuoted = false
      } else if !(wasQuoted && c.isWhitespace) {
        guard !wasQuoted else { throw DataError.csv(line: number, "text after a closing quote") }
        field.append(c)
      }
    }
    guard !quoted else { throw DataError.csv(line: number, "a quoted field is not closed") }
    out.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
    return out
  }
}
