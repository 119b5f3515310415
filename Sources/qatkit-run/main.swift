import Foundation
import QATKit
import QATPlugins
import QATRegistry

let usage = """
  usage: qatkit-run [--out DIR] [--qat-epochs N]   run FP32 → PTQ → QAT → QAT+KD on digits
         qatkit-run ptq                            PTQ accuracy of every preset × calibrator
         qatkit-run inspect FILE                   show a checkpoint's modes, tensors and ranges
         qatkit-run list                           show registered modes, quantizers, calibrators, ...
  """

func fail(_ message: String, code: Int32) -> Never {
  FileHandle.standardError.write(Data((message + "\n").utf8))
  exit(code)
}

var args = Array(CommandLine.arguments.dropFirst())
do {
  switch args.first {
  case "inspect":
    guard args.count == 2 else { fail(usage, code: 64) }
    print(try inspectCheckpoint(at: URL(fileURLWithPath: args[1])))
  case "ptq":
    guard args.count == 1 else { fail(usage, code: 64) }
    try PTQReport().run()
  case "list":
    for e in InTreePlugins.registry.allEntries {
      print("\(e.kind.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(e.name.padding(toLength: 18, withPad: " ", startingAt: 0)) [\(e.plugin)] \(e.summary)")
    }
  case "-h", "--help", "help":
    print(usage)
  default:
    var out = "runs"
    var epochs = 10
    while let a = args.first {
      args.removeFirst()
      switch a {
      case "--out": guard let v = args.first else { fail(usage, code: 64) }; out = v; args.removeFirst()
      case "--qat-epochs":
        guard let v = args.first.flatMap({ Int($0) }), v >= 0 else { fail(usage, code: 64) }
        epochs = v; args.removeFirst()
      default: fail("unknown argument '\(a)'\n" + usage, code: 64)
      }
    }
    try Pipeline(out: URL(fileURLWithPath: out), qatEpochs: epochs).run()
  }
} catch {
  fail("error: \(error)", code: 1)
}
