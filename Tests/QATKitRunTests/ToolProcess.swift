import Foundation
import QATTestSupport

/// Runs the built `qatkit-run` executable as a user would: a separate process in a fresh
/// working directory, with stdout, stderr and the exit code collected.
struct ToolProcess {
  struct Result {
    let status: Int32
    let stdout: String
    let stderr: String
    /// Whether the process ended from a signal rather than an exit.
    let signaled: Bool
  }

  /// The executable: `QATKIT_RUN` if set, else next to the test bundle (SwiftPM puts every
  /// product of a build in one folder), else built with `swift build --product qatkit-run`.
  static let executable: URL = {
    let fm = FileManager.default
    if let path = ProcessInfo.processInfo.environment["QATKIT_RUN"], fm.isExecutableFile(atPath: path) {
      return URL(fileURLWithPath: path)
    }
    var candidates: [URL] = []
    for start in [Bundle.main.executableURL, Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0])].compactMap({ $0 }) {
      var dir = start.deletingLastPathComponent()
      for _ in 0..<4 {
        candidates.append(dir.appendingPathComponent("qatkit-run"))
        dir = dir.deletingLastPathComponent()
      }
    }
    if let found = candidates.first(where: { fm.isExecutableFile(atPath: $0.path) }) { return found }
    // Build it (a clean checkout running only this target).
    let build = Process()
    build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    build.arguments = ["swift", "build", "--product", "qatkit-run", "--show-bin-path"]
    build.currentDirectoryURL = Examples.packageRoot
    let pipe = Pipe()
    build.standardOutput = pipe
    try? build.run()
    build.waitUntilExit()
    let binPath = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last.map(String.init) ?? ""
    let quiet = Process()
    quiet.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    quiet.arguments = ["swift", "build", "--product", "qatkit-run"]
    quiet.currentDirectoryURL = Examples.packageRoot
    try? quiet.run()
    quiet.waitUntilExit()
    return URL(fileURLWithPath: binPath).appendingPathComponent("qatkit-run")
  }()

  /// A fresh empty working directory.
  static func workingDirectory() -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qatkit-run-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
  }

  /// Runs `qatkit-run args...` in `directory` and waits for it.
  static func run(_ args: [String], in directory: URL? = nil) throws -> Result {
    let p = try start(args, in: directory ?? workingDirectory())
    return p.finish()
  }

  /// A running process (its output buffers are guarded by a lock).
  final class Running: @unchecked Sendable {
    let process: Process
    private let out: Pipe
    private let err: Pipe
    private let lock = NSLock()
    private var outData = Data()
    private var errData = Data()

    init(process: Process, out: Pipe, err: Pipe) {
      self.process = process
      self.out = out
      self.err = err
      out.fileHandleForReading.readabilityHandler = { [weak self] h in self?.append(h.availableData, toErr: false) }
      err.fileHandleForReading.readabilityHandler = { [weak self] h in self?.append(h.availableData, toErr: true) }
    }

    private func append(_ d: Data, toErr: Bool) {
      lock.lock()
      if toErr { errData.append(d) } else { outData.append(d) }
      lock.unlock()
    }

    /// What the process has written to stderr so far.
    var stderrSoFar: String {
      lock.lock()
      defer { lock.unlock() }
      return String(decoding: errData, as: UTF8.self)
    }

    /// Waits for the end and collects the output.
    func finish() -> Result {
      process.waitUntilExit()
      out.fileHandleForReading.readabilityHandler = nil
      err.fileHandleForReading.readabilityHandler = nil
      append(out.fileHandleForReading.readDataToEndOfFile(), toErr: false)
      append(err.fileHandleForReading.readDataToEndOfFile(), toErr: true)
      lock.lock()
      defer { lock.unlock() }
      return Result(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self), signaled: process.terminationReason == .uncaughtSignal)
    }
  }

  /// Starts `qatkit-run args...` in `directory`.
  static func start(_ args: [String], in directory: URL) throws -> Running {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    p.currentDirectoryURL = directory
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    let running = Running(process: p, out: out, err: err)
    try p.run()
    return running
  }
}

/// Paths of the example inputs.
enum ExampleFiles {
  static func path(_ relative: String) throws -> String { try Examples.url(relative).path }
}
