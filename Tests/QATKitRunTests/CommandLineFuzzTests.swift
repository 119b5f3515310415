import Foundation
import QATKit
import QATTestSupport
import Testing

/// Issue 10's rule for the command line's own inputs: a recipe file, its `--set` overrides and
/// a `--plugin` path may make `qatkit-run` fail, never trap or hang. Each case runs the tool as
/// a process (so a trap is a signal, and a hang a timeout) and expects exit code 0, 1 or 2.
///
/// Recipes are seeded mutations of `Examples/recipes/iris-w4a4-lsq.json` (with one epoch per
/// stage so that the ones that run stay short): values replaced by hostile numbers and types,
/// keys removed, `--set` overrides with deep, indexed or hostile paths. Seeded:
/// `QATKIT_FUZZ_SEED` (default 10); `QATKIT_CLI_FUZZ_CASES` (default 30; each is a process, under a second).
@Suite("qatkit-run: hostile recipes, overrides and plugin paths")
struct CommandLineFuzzTests {
  static func environment(_ name: String, default value: Int) -> Int {
    ProcessInfo.processInfo.environment[name].flatMap(Int.init) ?? value
  }

  /// Runs the tool and fails the test on a signal, an unexpected exit code or a run longer
  /// than `timeout` seconds (killed then).
  static func runChecked(_ args: [String], in dir: URL, timeout: Double = 300, _ what: String) throws -> ToolProcess.Result? {
    let p = try ToolProcess.start(args, in: dir)
    let deadline = Date().addingTimeInterval(timeout)
    while p.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    if p.process.isRunning {
      p.process.terminate()
      Issue.record("\(what): still running after \(Int(timeout)) s (a hang?) — \(args)")
      _ = p.finish()
      return nil
    }
    let r = p.finish()
    #expect(!r.signaled && [0, 1, 2].contains(r.status), "\(what): exit \(r.status)\(r.signaled ? " (signal)" : "") — \(args)\n\(r.stderr.suffix(2000))")
    return r
  }

  static let hostile: [JSONValue] = [
    .number(0), .number(-1), .number(0.5), .number(1e300), .number(-9.2e18), .number(9.3e18), .number(1e-45), .number(1e9),
    .string("x"), .string(""), .null, .array([]), .object([:]), .bool(true), .array([.number(1e9), .number(1e9)]),
  ]

  static func base() throws -> JSONValue {
    var json = try JSONValue(parsing: String(decoding: try Data(contentsOf: Examples.url("recipes/iris-w4a4-lsq.json")), as: UTF8.self))
    let iris = try Examples.url("byo/iris.csv").path
    for (path, value): ([String], JSONValue) in [
      (["data", "file"], .string(iris)), (["stages", "train", "epochs"], .number(1)), (["stages", "qat", "epochs"], .number(1)),
      (["stages", "distill", "epochs"], .number(1)), (["output", "dir"], .string("out")),
    ] {
      json = set(json, path[...], value)
    }
    return json
  }

  static func set(_ json: JSONValue, _ path: ArraySlice<String>, _ value: JSONValue?) -> JSONValue {
    guard let k = path.first else { return value ?? .null }
    switch json {
    case .object(var o):
      if path.count == 1 && value == nil { o[k] = nil } else { o[k] = set(o[k] ?? .object([:]), path.dropFirst(), value) }
      return .object(o)
    case .array(var a):
      guard let i = Int(k), a.indices.contains(i) else { return json }
      if path.count == 1 && value == nil { a.remove(at: i) } else { a[i] = set(a[i], path.dropFirst(), value) }
      return .array(a)
    default: return json
    }
  }

  static func leafPaths(_ json: JSONValue, _ prefix: [String] = []) -> [[String]] {
    switch json {
    case .object(let o): return o.keys.sorted().flatMap { leafPaths(o[$0]!, prefix + [$0]) }
    case .array(let a): return a.indices.flatMap { leafPaths(a[$0], prefix + [String($0)]) }
    default: return [prefix]
    }
  }

  /// `--set` paths in the tool's syntax (`a.b[2].c`).
  static func setSyntax(_ path: [String]) -> String {
    var out = ""
    for k in path { out += Int(k) != nil ? "[\(k)]" : (out.isEmpty ? k : ".\(k)") }
    return out
  }

  @Test func mutatedRecipesAndOverridesNeverTrap() throws {
    let cases = Self.environment("QATKIT_CLI_FUZZ_CASES", default: 30)
    var rng = RandomGenerator(seed: UInt64(Self.environment("QATKIT_FUZZ_SEED", default: 10)) &+ 505)
    func pick<T>(_ a: [T]) -> T { a[rng.nextInt(below: a.count)] }
    let dir = ToolProcess.workingDirectory()
    for c in 0..<cases {
      var json = try Self.base()
      var sets: [String] = []
      var log: [String] = []
      for _ in 0..<(1 + rng.nextInt(below: 2)) {
        let leaves = Self.leafPaths(json).filter { !$0.isEmpty && $0 != ["data", "file"] }
        let path = pick(leaves)
        // Epoch counts stay small or invalid, so a recipe that runs ends quickly.
        let epochs = path.last == "epochs"
        let value: JSONValue = epochs ? pick([.number(0), .number(-1), .number(2.5), .number(1e300), .string("x")]) : pick(Self.hostile)
        switch rng.nextInt(below: 4) {
        case 0:
          json = Self.set(json, path[...], nil)
          log.append("removed \(path)")
        case 1:
          sets += ["--set", "\(Self.setSyntax(path))=\(value.text)"]
        default:
          json = Self.set(json, path[...], value)
          log.append("\(path) = \(value.text)")
        }
      }
      switch rng.nextInt(below: 5) {
      case 0: sets += ["--set", String(repeating: "a.", count: 5000) + "b=1"]
      case 1: sets += ["--set", "stages.quantize.config.quantCfg[99999999999999999999].cfg=1"]
      case 2: sets += ["--set", "stages[0]=1", "--set", "=3", "--set", "data.file.x=1"]
      default: break
      }
      let url = dir.appendingPathComponent("r\(c).json")
      try Data(json.text.utf8).write(to: url)
      _ = try Self.runChecked(["recipe", url.path, "--quiet"] + sets, in: dir, "case \(c): \(log) \(sets.prefix(6))")
    }
    // The files a recipe reads are user input too: a recipe that is not JSON, nested too deep,
    // or naming a data file that is a directory.
    let bad = [("notjson.json", "{"), ("deep.json", String(repeating: "[", count: 100_000)), ("huge.json", "{\"data\": 1e999}")]
    for (name, text) in bad {
      let url = dir.appendingPathComponent(name)
      try Data(text.utf8).write(to: url)
      let r = try Self.runChecked(["recipe", url.path], in: dir, name)
      #expect(r?.status == 2, "\(name)")
    }
  }

  /// Paths that are not plugin libraries: missing, empty, text, random bytes, a truncated ELF,
  /// the tool's own executable, a directory and a FIFO (dlopen on a FIFO blocked forever in
  /// `open` before the loader checked for a regular file). Each is exit code 2 with a message.
  @Test func hostilePluginPathsAreInputErrors() throws {
    let dir = ToolProcess.workingDirectory()
    let fm = FileManager.default
    var rng = RandomGenerator(seed: 7)
    // The tool is a position-independent ELF (type "shared object"): its first 4 KiB and 1 MiB
    // are libraries cut short (dlopen died with SIGBUS on them before the ELF check).
    let tool = try FileHandle(forReadingFrom: ToolProcess.executable)
    let elf = [UInt8](try tool.read(upToCount: 1 << 20) ?? Data())
    try tool.close()
    let files: [(String, [UInt8])] = [
      ("empty.so", []), ("text.so", Array("not a library\n".utf8)),
      ("random.so", (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }), ("truncated.so", Array(elf.prefix(4096))),
      ("truncated-1m.so", elf), ("elf-header-only.so", Array(elf.prefix(64))),
    ]
    for (name, bytes) in files { try Data(bytes).write(to: dir.appendingPathComponent(name)) }
    try fm.createDirectory(at: dir.appendingPathComponent("adir.so"), withIntermediateDirectories: true)
    #expect(mkfifo(dir.appendingPathComponent("fifo.so").path, 0o600) == 0)
    let paths = files.map(\.0) + ["adir.so", "fifo.so", "missing.so", ToolProcess.executable.path, ""]
    for p in paths {
      let r = try Self.runChecked(["--plugin", p, "list"], in: dir, timeout: 60, "--plugin \(p)")
      #expect(r?.status == 2 && (r?.stderr.isEmpty == false), "--plugin \(p): \(r?.stderr ?? "")")
    }
  }
}
