import Foundation
import QATKit
import QATTestSupport
import Testing

/// `qatkit-run` as a process: help, version, list, and every error with its exit code and a
/// message that says what to do (never a stack trace).
@Suite("qatkit-run: basics and errors")
struct CommandLineBasicsTests {
  @Test func versionHelpAndList() throws {
    let v = try ToolProcess.run(["--version"])
    #expect(v.status == 0 && v.stdout.hasPrefix("qatkit-run "))
    let root = try ToolProcess.run(["--help"])
    #expect(root.status == 0)
    for command in ["run", "train", "quantize", "qat", "distill", "eval", "export", "recipe", "ptq", "inspect", "list"] {
      #expect(root.stdout.contains("  \(command) "), "root help lists \(command)")
      let h = try ToolProcess.run([command, "--help"])
      #expect(h.status == 0 && h.stdout.contains("USAGE: qatkit-run") && h.stdout.contains("--quiet"), "\(command) --help")
    }
    let list = try ToolProcess.run(["list"])
    #expect(list.status == 0 && list.stdout.contains("INT8_DEFAULT_CFG") && list.stdout.contains("MaxPool2d") && list.stdout.contains("lsq"))
  }

  /// Each error: exit code 2 for usage and input errors, 1 for a failure while running; the
  /// message on stderr names the problem, no stack trace.
  @Test func errorsHaveExitCodesAndSayWhatToDo() throws {
    let dir = ToolProcess.workingDirectory()
    let iris = try ExampleFiles.path("byo/iris.csv")
    let cnn = try ExampleFiles.path("byo/cnn_seq_digits.safetensors")
    let gelu = try ExampleFiles.path("byo/gelu_mlp_digits.json")
    try "a,b,label\n1,2,x\n3,4\n".write(to: dir.appendingPathComponent("ragged.csv"), atomically: true, encoding: .utf8)
    try "a,b,label\n1,zz,x\n".write(to: dir.appendingPathComponent("nan.csv"), atomically: true, encoding: .utf8)
    try "".write(to: dir.appendingPathComponent("empty.csv"), atomically: true, encoding: .utf8)
    try #"{"stages": {"train": {"epoch": 3}}}"#.write(to: dir.appendingPathComponent("typo.json"), atomically: true, encoding: .utf8)
    try #"{"quant_cfg": [{"quantizer_name": "*weight_quantizer", "cfg": {"num_bit": 4}}]}"#
      .write(to: dir.appendingPathComponent("cfg.json"), atomically: true, encoding: .utf8)
    try "not a directory".write(to: dir.appendingPathComponent("blocker"), atomically: true, encoding: .utf8)
    let cases: [(args: [String], status: Int32, message: String)] = [
      (["frobnicate"], 2, "unknown command 'frobnicate'"),
      (["--dta", "x.csv"], 2, "did you mean '--data'?"),
      (["train", "--epochs"], 2, "'--epochs' needs a value"),
      (["train", "--epochs", "many"], 2, "'--epochs' expects an integer"),
      (["--data", "missing.csv"], 2, "no such file"),
      (["--data", "ragged.csv"], 2, "CSV line 3: 2 fields, the header has 3"),
      (["--data", "nan.csv"], 2, "'zz' in column 'b' is not a finite number"),
      (["--data", "empty.csv"], 2, "the CSV has no header row"),
      (["--data", iris, "--label-column", "specie"], 2, "did you mean 'species'?"),
      (["--data", iris, "--label-column", "species", "--quant-cfg", "INT8_DEFALT_CFG"], 2, "did you mean 'INT8_DEFAULT_CFG'?"),
      (["--data", iris, "--label-column", "species", "--quant-cfg", "W4A8_AWQ_BETA_CFG"], 2, "awq_lite"),
      (["--data", iris, "--label-column", "species", "--act-bits", "1"], 2, "expects 0 (none) or 2...8"),
      (["--data", iris, "--label-column", "species", "--quant-cfg", "cfg.json"], 2, "unknown key 'quant_cfg[0].cfg.num_bit' (did you mean 'num_bits'?)"),
      (["eval", "--model", gelu, "--weights", cnn], 2, "missing keys: backbone.0.weight"),
      (["eval", "--model", try ExampleFiles.path("byo/cnn_seq_digits.json"), "--weights", cnn, "--input-shape", "1,4,4"], 2, "holds 16 values but each row has 64 features"),
      (["recipe", "typo.json"], 2, "unknown key 'stages.train.epoch' (did you mean 'epochs'?)"),
      (["recipe", "typo.json", "--set", "stages.train.epoch"], 2, "--set expects KEY.PATH=VALUE"),
      (["quantize"], 2, "quantize needs --checkpoint"),
      (["export", cnn, "--output", "x.onnx", "--format", "onxx"], 2, "unknown format 'onxx'; did you mean 'onnx'?"),
      (["export", cnn, "--output", "x.onnx", "--format", "onnx"], 2, "does not record its architecture"),
      (["train", "--data", iris, "--label-column", "species", "--epochs", "1", "--output", "blocker/fp32.safetensors"], 1, "cannot write"),
    ]
    for c in cases {
      let r = try ToolProcess.run(c.args + ["--quiet"], in: dir)
      #expect(r.status == c.status, "\(c.args): exit \(r.status), stderr: \(r.stderr)")
      #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains(c.message), "\(c.args): \(r.stderr)")
      #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Stack dump") && !r.signaled, "\(c.args): \(r.stderr)")
    }
  }

  /// The first Ctrl-C stops the job at its next step with exit code 130 and leaves no
  /// half-written (temporary) file; --quiet runs print nothing on stderr.
  @Test func ctrlCStopsCleanly() throws {
    let dir = ToolProcess.workingDirectory()
    let p = try ToolProcess.start(
      ["--data", try ExampleFiles.path("byo/iris.csv"), "--label-column", "species", "--epochs", "100000", "--out", "out"], in: dir)
    var waited = 0
    while !p.stderrSoFar.contains("FP32  epoch 1/"), waited < 600 {
      Thread.sleep(forTimeInterval: 0.1)
      waited += 1
    }
    #expect(p.stderrSoFar.contains("FP32  epoch 1/100000"), "plain progress lines when stderr is not a terminal")
    p.process.interrupt()
    let r = p.finish()
    #expect(r.status == 130 && !r.signaled, "exit \(r.status): \(r.stderr)")
    #expect(r.stderr.contains("interrupted"))
    let files = (try? FileManager.default.subpathsOfDirectory(atPath: dir.path)) ?? []
    #expect(!files.contains { $0.hasSuffix(".tmp") }, "\(files)")
  }
}
