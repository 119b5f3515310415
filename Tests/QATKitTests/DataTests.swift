import QATTestSupport
import Testing

@testable import QATKit
import QATPluginTesting

@Suite("DataTests: CSV")
struct CSVTests {
  @Test("parses features and labels in any column, with CRLF line ends")
  func parse() throws {
    let d = try Dataset(csv: "a,label,b\r\n1,3,2.5\r\n-4,0,1e-1\r\n")
    #expect(d.count == 2 && d.featureCount == 2)
    #expect(d.features == [1, 2.5, -4, 0.1])
    #expect(d.labels == [3, 0])
    let e = try Dataset(csv: "x,y\n1,2\n", labelColumn: "x")
    #expect(e.features == [2] && e.labels == [1])
  }

  @Test("errors are typed and name the line and the problem")
  func errors() {
    #expect(throws: DataError.empty("the CSV has no header row; the first line must name the columns")) { try Dataset(csv: "") }
    #expect(throws: DataError.empty("the CSV has a header but no data rows")) { try Dataset(csv: "a,label\n\n") }
    #expect(throws: DataError.missingColumn("label", available: ["a", "b"])) { try Dataset(csv: "a,b\n1,2\n") }
    #expect("\(DataError.missingColumn("specie", available: ["x", "species"]))".contains("did you mean 'species'"))
    #expect(throws: DataError.raggedRow(line: 3, fields: 1, expected: 2)) { try Dataset(csv: "a,label\n1,2\n3\n") }
    #expect(throws: DataError.notANumber(line: 2, column: "a", value: "x")) { try Dataset(csv: "a,label\nx,2\n") }
    #expect(throws: DataError.notANumber(line: 2, column: "a", value: "nan")) { try Dataset(csv: "a,label\nnan,1\n") }
    #expect(throws: DataError.csv(line: 1, "column 'a' appears twice in the header")) { try Dataset(csv: "a,a,label\n1,2,0\n") }
    func line(of text: String) -> Int? {
      do { _ = try Dataset(csv: text); return nil } catch let e as DataError { return e.line } catch { return -1 }
    }
    #expect(line(of: "a,label\n1,2\n1,two\n") == 3)  // integers mixed with names
    #expect(line(of: "a,label\n1,2\n1,2.5\n") == 3)  // fractional label
    #expect(line(of: "a,label\n1,-1\n") == 2)  // negative label
    // Blank lines are skipped but still counted.
    #expect(line(of: "a,label\n1,2\n\n\n1,bad\n") == 5)
    #expect(line(of: "\na,label\n1,x\n2,3\n") == 4)
    #expect(line(of: "a,label\n\"1,2\n") == 2)  // unclosed quote
  }

  @Test("string labels map to sorted indices and the mapping is recorded")
  func stringLabels() throws {
    let d = try Dataset(csv: "x,species,y\n1,virginica,2\n3,setosa,4\n5, \"versicolor\" ,6\n7,setosa,8\n", labelColumn: "species")
    #expect(d.labelNames == ["setosa", "versicolor", "virginica"])
    #expect(d.labels == [2, 0, 1, 0])
    #expect(d.features == [1, 2, 3, 4, 5, 6, 7, 8])
    #expect(d.classCount == 3)
    // A recorded mapping applies to another file; unknown names are errors.
    let t = try Dataset(csv: "x,species,y\n0,virginica,0\n", labelColumn: "species", classes: d.labelNames)
    #expect(t.labels == [2] && t.labelNames == d.labelNames)
    #expect(throws: DataError.self) { try Dataset(csv: "x,species,y\n0,iris,0\n", labelColumn: "species", classes: d.labelNames) }
    // Ignored columns and quoted commas.
    let q = try Dataset(csv: "id,name,v,label\n7,\"a, b\",1.5,0\n", ignoring: ["id", "name"])
    #expect(q.features == [1.5] && q.featureCount == 1)
    #expect(throws: DataError.missingColumn("nope", available: ["id", "name", "v", "label"])) {
      try Dataset(csv: "id,name,v,label\n7,x,1.5,0\n", ignoring: ["nope"])
    }
  }
}

@Suite("DataTests: datasets")
struct DatasetTests {
  @Test("size checks, batches, seeded shuffles")
  func batches() throws {
    #expect(throws: DataError.self) { try Dataset(features: [1, 2, 3], labels: [0, 1], featureCount: 2) }
    #expect(throws: DataError.self) { try Dataset(features: [], labels: [], featureCount: 0) }
    let d = try Dataset(features: (0..<20).map(Float.init), labels: Array(0..<10), featureCount: 2)
    let plain = try d.batches(size: 4)
    #expect(plain.map(\.labels) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    #expect(plain[2].inputs.shape == [2, 2] && plain[2].inputs.scalars == [16, 17, 18, 19])
    let shuffled = try d.batches(size: 3, seed: 11)
    let order = shuffled.flatMap(\.labels)
    #expect(order.sorted() == Array(0..<10))
    #expect(order != Array(0..<10))
    for b in shuffled {  // features travel with their labels
      #expect(b.inputs.scalars == b.labels.flatMap { [Float(2 * $0), Float(2 * $0 + 1)] })
    }
    #expect(try d.batches(size: 3, seed: 11).flatMap(\.labels) == order)
    #expect(try d.batches(size: 3, seed: 12).flatMap(\.labels) != order)
    #expect(try d.subset([9, 0]).features == [18, 19, 0, 1])
    #expect(throws: DataError.self) { try d.subset([10]) }
    #expect(d.prefix(3).labels == [0, 1, 2])
    #expect(d.all.inputs.shape == [10, 2])
  }

  @Test("shaped samples batch as [N, C, H, W]; names and shape survive subsets and scaling")
  func shapedSamples() throws {
    let d = try Dataset(features: (0..<32).map(Float.init), labels: [0, 1], featureCount: 16)
    #expect(throws: DataError.self) { try d.shaped([1, 3, 5]) }
    let img = try d.shaped([1, 4, 4])
    #expect(img.batch([1]).inputs.shape == [1, 1, 4, 4])
    #expect(img.batch([1]).inputs.scalars == (16..<32).map(Float.init))
    #expect(try img.batches(size: 2)[0].inputs.shape == [2, 1, 4, 4])
    #expect(try img.subset([0]).sampleShape == [1, 4, 4])
    #expect(try Standardizer(fitting: img).transform(img).sampleShape == [1, 4, 4])
    let named = try Dataset(features: [1, 2], labels: [1, 0], sampleShape: [1], labelNames: ["a", "b"])
    #expect(try named.subset([1]).labelNames == ["a", "b"])
    #expect(throws: DataError.self) { try Dataset(features: [1], labels: [2], sampleShape: [1], labelNames: ["a", "b"]) }
  }

  @Test("stratified seeded split keeps class proportions and is reproducible")
  func split() throws {
    // 3 classes of 10, 20 and 30 samples.
    let labels = [Int](repeating: 0, count: 10) + [Int](repeating: 1, count: 20) + [Int](repeating: 2, count: 30)
    let d = try Dataset(features: (0..<60).map(Float.init), labels: labels, featureCount: 1)
    let (train, test) = try d.split(testFraction: 0.2, seed: 3)
    #expect(train.count == 48 && test.count == 12)
    #expect([0, 1, 2].map { c in test.labels.filter { $0 == c }.count } == [2, 4, 6])
    #expect(Set(train.features).isDisjoint(with: test.features))
    #expect(Set(train.features + test.features).count == 60)
    #expect(train.features == train.features.sorted())  // original order kept
    let again = try d.split(testFraction: 0.2, seed: 3)
    #expect(again.test.features == test.features)
    #expect(try d.split(testFraction: 0.2, seed: 4).test.features != test.features)
    #expect(throws: DataError.self) { try d.split(testFraction: 1.0) }
    #expect(throws: DataError.self) { try d.split(testFraction: 0) }
    #expect(throws: DataError.self) { try d.prefix(1).split(testFraction: 0.5) }
  }

  @Test("Standardizer fits population statistics and transforms in Float")
  func standardizer() throws {
    let d = try Dataset(features: [1, 5, 3, 5, 5, 5], labels: [0, 1, 2], featureCount: 2)
    let s = Standardizer(fitting: d)
    #expect(s.mean == [3, 5])
    #expect(isClose(s.std[0], (8 / Float(3)).squareRoot(), atol: 1e-6))
    #expect(s.std[1] == 1)  // zero variance
    let t = try s.transform(d)
    #expect(allClose(t.features, [-1.2247449, 0, 0, 0, 1.2247449, 0], atol: 1e-6))
    #expect(throws: DataError.self) { try Standardizer(mean: [0], std: [1, 2]) }
    #expect(throws: DataError.self) { try s.transform(Dataset(features: [1], labels: [0], featureCount: 1)) }
  }
}

@Suite("DataTests: digits")
struct DigitsTests {
  @Test("split sizes and label counts")
  func sizes() throws {
    let (train, test) = try Digits.load()
    #expect(train.count == 1437 && test.count == 360)
    #expect(train.featureCount == 64 && test.featureCount == 64)
    var counts = [Int](repeating: 0, count: 10)
    for y in train.labels { counts[y] += 1 }
    #expect(counts == [142, 146, 142, 146, 145, 145, 145, 143, 139, 144])
    #expect(test.labels.allSatisfy { (0..<10).contains($0) })
  }

  // Check values from digits_split.json `transform` (written by the reference scikit-learn
  // pipeline), which the float32 recipe must reproduce bit for bit.
  @Test("standardized values match the reference bit for bit")
  func checkValues() throws {
    let (train, test) = try Digits.load()
    #expect(Array(train.features[0..<3]) == [0.0, -0.3334764838218689, 0.5815455317497253])
    #expect(Array(test.features[0..<3]) == [0.0, -0.3334764838218689, -0.6722894310951233])
    #expect(train.features.reduce(0.0) { $0 + Double($1) } == 0.0002282166387885809)
    #expect(test.features.reduce(0.0) { $0 + Double($1) } == -26.35821518767625)
    #expect(train.features.map(Swift.abs).max() == 37.89459228515625)
    #expect(test.features.map(Swift.abs).max() == 53.609710693359375)
  }
}
