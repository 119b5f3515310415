import Foundation
import QATKit

/// Everything a run produced, written by `--json` and drawn by the HTML report.
struct RunResults: Codable {
  /// The producing tool and version.
  var tool: String = "qatkit-run \(CommandLineTool.version)"
  /// What the run did, in one line (`qatkit-run --data iris.csv ...`).
  var command: String
  /// The data line of the header.
  var data: String
  /// Class names, if the labels had names.
  var classes: [String]?
  /// The model description.
  var model: String
  /// Parameter count of the FP32 model.
  var parameters: Int
  /// Settings shown in the report (`FP32: 100 epochs, batch 12, Adam 1e-3`).
  var settings: [String]
  /// The stages in order.
  var stages: [StageResult] = []
  /// Per-quantizer ranges and SQNR before and after QAT, per recipe and ranges variant.
  var layers: [LayerComparison] = []
  /// Whether PyTorch + ModelOpt reference numbers are shown.
  var hasReference: Bool = false
}

/// One row of the results table.
struct StageResult: Codable {
  /// `FP32`, `PTQ`, `QAT`, `QAT+KD`.
  var stage: String
  /// The quantization recipe (or the model for FP32).
  var recipe: String
  /// How ranges were set: `max, frozen`, `mse → LSQ learned`, `-`.
  var ranges: String
  /// Test accuracy in [0, 1].
  var accuracy: Float
  /// PyTorch + ModelOpt's accuracy for the same stage, when known.
  var reference: Float?
  /// Wall time of the stage in seconds.
  var seconds: Double
  /// The checkpoint written, relative to the output directory.
  var checkpoint: String?
  /// Per-epoch training loss and test accuracy (empty for PTQ).
  var curve: [EpochPoint] = []
}

/// One epoch of training.
struct EpochPoint: Codable {
  var epoch: Int
  var loss: Float
  var accuracy: Float
}

/// One quantizer before (PTQ) and after QAT(+KD).
struct LayerComparison: Codable {
  /// `W4A4 (per-channel weights)` ...
  var recipe: String
  /// `max, frozen` / `mse → LSQ learned`.
  var ranges: String
  /// Which trained stage `after` is (`QAT+KD`).
  var afterStage: String
  /// `fc1.weight_quantizer`.
  var path: String
  /// `int4 per-channel(axis 0)`.
  var format: String
  var before: QuantizerStats
  var after: QuantizerStats
}

/// Range and quantization error of one quantizer.
struct QuantizerStats: Codable {
  /// Smallest and largest `amax` (nil for dynamic / block-scaled formats).
  var amaxMin: Float?
  var amaxMax: Float?
  /// Signal-to-quantization-noise ratio in dB on the test inputs (weights: on the weight).
  var sqnr: Double
}

extension RunResults {
  /// The plain-text table (`stage recipe ranges test acc [reference] time`).
  func table() -> String {
    var header = ["stage", "recipe", "ranges", "test acc"]
    if hasReference { header.append("PyTorch+ModelOpt") }
    header.append("time")
    var t = Table(header: header)
    for s in stages {
      var row = [s.stage, s.recipe, s.ranges, pct(s.accuracy)]
      if hasReference { row.append(s.reference.map(pct) ?? "-") }
      row.append(secs(s.seconds))
      t.add(row)
    }
    return t.render()
  }

  /// Writes the results as JSON, atomically (rank 0 in an MPI job).
  func writeJSON(to url: URL) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try OutputFiles.write(try enc.encode(self), to: url)
  }
}

/// Atomic writes of result files (JSON, HTML, CSV, checkpoints), creating the directory. A
/// write that fails is a failure while running (exit 1).
///
/// In an MPI job only rank 0 writes: every rank calls these functions at the same point (they
/// are collective), `body` runs on rank 0, and the other ranks wait and fail with rank 0's
/// message when its write failed (`Communicator.onRoot`), so no rank goes on without the file.
enum OutputFiles {
  static func write(_ data: @autoclosure () throws -> Data, to url: URL) throws {
    try writing(url) {
      let bytes = try data()
      try AtomicFile.write(to: url) { try $0.write(contentsOf: bytes) }
    }
  }

  /// Creates `url`'s directory and runs `body` on rank 0, turning its errors into failures.
  static func writing(_ url: URL, _ body: () throws -> Void) throws {
    try DistributedSession.world.onRoot {
      do {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try body()
      } catch let e as CLIError {
        throw e
      } catch let e as any CustomStringConvertible where !(e is NSError) {
        throw CLIError.failure("cannot write \(url.path): \(e)")
      } catch {
        throw CLIError.failure("cannot write \(url.path): \(error.localizedDescription)")
      }
    }
  }
}
