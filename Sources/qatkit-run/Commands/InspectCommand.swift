import Foundation
import QATRegistry

/// `qatkit-run inspect CHECKPOINT`: modes, tensors and ranges of a checkpoint, without building
/// the model.
struct InspectCommand: Command {
  static let name = "inspect"
  static let abstract = "show a checkpoint's modes, tensors and quantizer ranges"
  static let usage = ["inspect CHECKPOINT"]
  static let positionals = 1...1

  let file: URL

  init(_ arguments: ParsedArguments) throws {
    file = URL(fileURLWithPath: arguments.positionals[0])
  }

  func run() throws {
    print(try inspectCheckpoint(at: file))
  }
}
