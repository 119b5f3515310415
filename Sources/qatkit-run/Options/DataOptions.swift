import Foundation
import QATKit

/// How the data was prepared, recorded in checkpoints so later commands (quantize, qat,
/// distill, eval, export) map labels and scale features exactly as training did.
struct DataRecord: Codable, Equatable {
  /// The CSV path (absolute) or `nil` for the bundled digits.
  var file: String?
  /// The label column's name.
  var labelColumn: String
  /// Columns left out.
  var ignoredColumns: [String]
  /// Class names by label, when labels were names.
  var labelNames: [String]?
  /// The scaler fitted on the training rows, if standardized.
  var standardizer: Standardizer?
  /// The shape of one sample.
  var sampleShape: [Int]
  /// The test file, or the split.
  var testFile: String?
  var testFraction: Double
  var seed: UInt64
}

/// The train and test sets ready for a model, and how they were made.
struct PreparedData {
  var train: Dataset
  var test: Dataset
  var record: DataRecord
  /// One line for the output header.
  var summary: String
  /// Whether this is the bundled digits split (PyTorch + ModelOpt reference numbers apply).
  var isBundledDigits: Bool { record.file == nil }
  /// The number of classes.
  var classCount: Int { max(train.classCount, test.classCount, record.labelNames?.count ?? 0) }
}

/// `--data FILE.csv --label-column NAME` and friends, shared by every command that reads data.
struct DataOptions {
  static let specs: [OptionSpec] = [
    .option("--data", "FILE.csv", "a CSV with a header row (default: the bundled digits, reference split)"),
    .option("--label-column", "NAME", "the label column: integers or class names (default: label)"),
    .option("--test", "FILE.csv", "test rows from another CSV instead of a split"),
    .option("--test-fraction", "F", "share of rows held out for testing, stratified by label (default: 0.2)"),
    .option("--seed", "N", "seeds the split, initialization and shuffling (default: 0)"),
    .option("--ignore-column", "NAME", "leave a column out (an id, free text)", repeatable: true),
    .option("--input-shape", "C,H,W", "view each row as this shape, e.g. 1,8,8 for 8x8 images"),
    .flag("--no-standardize", "keep features as they are (default: standardize with statistics of the training rows)"),
  ]

  var file: URL?
  var labelColumn: String?
  var testFile: URL?
  var testFraction: Double?
  var seed: UInt64?
  var ignored: [String]
  var inputShape: [Int]?
  var standardize: Bool

  init(
    file: URL?, labelColumn: String?, testFile: URL?, testFraction: Double?, seed: UInt64?, ignored: [String],
    inputShape: [Int]?, standardize: Bool
  ) {
    self.file = file
    self.labelColumn = labelColumn
    self.testFile = testFile
    self.testFraction = testFraction
    self.seed = seed
    self.ignored = ignored
    self.inputShape = inputShape
    self.standardize = standardize
  }

  init(_ a: ParsedArguments) throws {
    file = try a.existingFile("--data")
    labelColumn = a.string("--label-column")
    testFile = try a.existingFile("--test")
    testFraction = a.string("--test-fraction") == nil ? nil : try a.double("--test-fraction", default: 0.2, in: 0.01...0.99)
    seed = a.string("--seed") == nil ? nil : UInt64(try a.int("--seed", default: 0, in: 0...Int(Int32.max)))
    ignored = a.strings("--ignore-column")
    inputShape = try a.ints("--input-shape")
    standardize = !a.flag("--no-standardize")
    if file == nil, testFile != nil || labelColumn != nil || !ignored.isEmpty || testFraction != nil {
      throw CLIError.usage("--test, --label-column, --test-fraction and --ignore-column need --data FILE.csv")
    }
  }

  /// The seed in use: given, recorded, or 0.
  func seed(recorded: DataRecord?) -> UInt64 { seed ?? recorded?.seed ?? 0 }

  /// Loads and prepares the data. With `recorded` (from a checkpoint), labels map and
  /// features scale exactly as recorded, and the recorded file and split are the defaults.
  /// In an MPI job every rank loads the data and checks that all ranks prepared the same rows
  /// (a collective call).
  func load(recorded: DataRecord? = nil, modelInputShape: [Int]? = nil) throws -> PreparedData {
    let seed = self.seed(recorded: recorded)
    var prepared: PreparedData
    let file = self.file ?? recorded?.file.map { URL(fileURLWithPath: $0) }
    if let file {
      guard FileManager.default.fileExists(atPath: file.path) else {
        throw CLIError.input("the data file \(file.path) recorded in the checkpoint does not exist; give --data FILE.csv")
      }
      let labelColumn = self.labelColumn ?? recorded?.labelColumn ?? "label"
      let ignored = self.file == nil ? (recorded?.ignoredColumns ?? []) : self.ignored
      let all = try Dataset(contentsOf: file, labelColumn: labelColumn, ignoring: ignored, classes: recorded?.labelNames)
      let testFile = self.testFile ?? (self.file == nil ? recorded?.testFile.map { URL(fileURLWithPath: $0) } : nil)
      let fraction = testFraction ?? recorded?.testFraction ?? 0.2
      var (train, test): (Dataset, Dataset)
      if let testFile {
        train = all
        test = try Dataset(contentsOf: testFile, labelColumn: labelColumn, ignoring: ignored, classes: all.labelNames ?? recorded?.labelNames)
        guard test.featureCount == train.featureCount else {
          throw CLIError.input("--test has \(test.featureCount) feature columns, --data has \(train.featureCount); they must have the same columns")
        }
        if let names = all.labelNames, test.labelNames == nil {
          throw CLIError.input("--data has class names (\(names.prefix(3).joined(separator: ", ")), ...) but --test has integer labels")
        }
      } else {
        (train, test) = try all.split(testFraction: fraction, seed: seed)
      }
      var scaler: Standardizer? = nil
      if recorded != nil {
        scaler = recorded?.standardizer
      } else if standardize {
        scaler = Standardizer(fitting: train)  // training rows only
      }
      if let scaler {
        guard scaler.mean.count == train.featureCount else {
          throw CLIError.input("the checkpoint's standardizer has \(scaler.mean.count) features, the data \(train.featureCount)")
        }
        train = try scaler.transform(train)
        test = try scaler.transform(test)
      }
      let record = DataRecord(
        file: file.standardizedFileURL.path, labelColumn: labelColumn, ignoredColumns: ignored, labelNames: all.labelNames,
        standardizer: scaler, sampleShape: [train.featureCount], testFile: testFile?.standardizedFileURL.path,
        testFraction: fraction, seed: seed)
      let split = testFile == nil ? String(format: "stratified %.0f%% test split, seed %d", 100 * fraction, seed) : "test rows from \(testFile!.lastPathComponent)"
      let classes = all.labelNames.map { "\($0.count) classes (\($0.joined(separator: ", ")))" } ?? "\(all.classCount) classes"
      prepared = PreparedData(
        train: train, test: test, record: record,
        summary: "\(file.lastPathComponent): \(train.count) train / \(test.count) test rows, \(train.featureCount) features, \(classes); \(split)"
          + (scaler == nil ? "" : ", standardized on the training rows"))
    } else {
      let (train, test) = try Digits.load()
      let record = DataRecord(
        file: nil, labelColumn: "label", ignoredColumns: [], labelNames: nil, standardizer: nil, sampleShape: [64],
        testFile: nil, testFraction: 360.0 / 1797.0, seed: seed)
      prepared = PreparedData(
        train: train, test: test, record: record,
        summary: "digits (bundled): \(train.count) train / \(test.count) test rows, 64 features, 10 classes; reference split and standardization")
    }
    // The shape of one sample: given, else the model's input shape, else recorded.
    if let shape = inputShape ?? modelInputShape ?? (recorded.map(\.sampleShape).flatMap { $0.count > 1 ? $0 : nil }) {
      guard shape.reduce(1, *) == prepared.train.featureCount else {
        let source = inputShape != nil ? "--input-shape" : "the model's input_shape"
        throw CLIError.input(
          "\(source) \(shape) holds \(shape.reduce(1, *)) values but each row has \(prepared.train.featureCount) features")
      }
      prepared.train = try prepared.train.shaped(shape)
      prepared.test = try prepared.test.shaped(shape)
      prepared.record.sampleShape = shape
    }
    try DistributedSession.checkSameData(prepared)
    return prepared
  }
}
