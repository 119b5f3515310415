import Dispatch
import Foundation
import Testing
@testable import QATKit

/// Issue 10, defect 5: a writer killed during a save leaves its temporary file; the next save
/// into the same directory removes it, and only it.
@Suite struct AtomicFileLeftoverTests {
  private func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("qatkit-leftovers-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// Runs `/bin/sh -c script` and waits; returns its pid (no longer running afterwards).
  /// (`posix_spawn` rather than `Foundation.Process`, whose `run()` leaks a weak-reference side
  /// table that LeakSanitizer reports.)
  private func runShell(_ script: String) throws -> Int32 {
    var pid: pid_t = 0
    let args: [String] = ["/bin/sh", "-c", script]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    let rc = posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ)
    guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return Int32(pid)
  }

  @Test func aKilledWritersTemporaryFileIsRemovedByTheNextSave() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    // A writer process creates its temporary file under the naming scheme and dies by SIGKILL.
    let marker = AtomicFile.marker, host = AtomicFile.hostTag
    let uuid = UUID().uuidString
    let pid = try runShell(
      #"cd "$1" && head -c 4096 /dev/zero > ".model.safetensors.\#(marker).\#(host).$$.\#(uuid)" && kill -9 $$"#
        .replacingOccurrences(of: "$1", with: directory.path))
    let dead = AtomicFile.temporaryName(for: "model.safetensors", pid: pid, id: UUID(uuidString: uuid)!)
    #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(dead).path))
    #expect(!AtomicFile.processExists(pid))

    // Files that must survive: a live writer (this process), another host's writer, an older
    // naming without a pid, and the user's own hidden file.
    let live = AtomicFile.temporaryName(for: "model.safetensors", pid: ProcessInfo.processInfo.processIdentifier)
    let otherHost = ".model.safetensors.\(marker).\(host == "00000000" ? "00000001" : "00000000").\(pid).\(UUID().uuidString)"
    let oldStyle = ".model.safetensors.\(UUID().uuidString).tmp"
    for name in [live, otherHost, oldStyle, ".keep"] {
      #expect(FileManager.default.createFile(atPath: directory.appendingPathComponent(name).path, contents: Data([1])))
    }

    // The next save into the directory (any file name) cleans up the dead writer's file.
    try SafeTensors.write(floats: [("w", [1], [1])], to: directory.appendingPathComponent("other.safetensors"))
    let left = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
    #expect(left == [live, otherHost, oldStyle, ".keep", "other.safetensors"])
  }

  @Test func temporaryNamesRoundTrip() throws {
    let name = AtomicFile.temporaryName(for: "a.b.safetensors", pid: 4242)
    let w = try #require(AtomicFile.writer(ofTemporaryName: name))
    #expect(w.pid == 4242 && w.host == AtomicFile.hostTag)
    for other in [
      "a.safetensors", ".a.safetensors.\(UUID().uuidString).tmp", ".a.qatkit-tmp.zzzzzzzz.12.\(UUID().uuidString)",
      ".a.qatkit-tmp.\(AtomicFile.hostTag).-5.\(UUID().uuidString)", ".a.qatkit-tmp.\(AtomicFile.hostTag).12.not-a-uuid",
    ] {
      #expect(AtomicFile.writer(ofTemporaryName: other) == nil, "\(other)")
    }
  }

  /// Saves from several threads into one directory (and over one file) while others read: the
  /// clean-up never removes a live writer's temporary file, every save lands whole, and nothing
  /// is left behind. (Also the ThreadSanitizer run's check of checkpoint I/O.)
  @Test func concurrentSavesIntoOneDirectory() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let shared = directory.appendingPathComponent("shared.safetensors")
    try SafeTensors.write(floats: [("w", [4], [0, 0, 0, 0])], to: shared)
    let failures = Locked<[String]>([])
    DispatchQueue.concurrentPerform(iterations: 4) { t in
      for i in 0..<8 {
        let v = Float(t * 100 + i)
        do {
          let own = directory.appendingPathComponent("t\(t).safetensors")
          try SafeTensors.write(floats: [("w", [4], [v, v, v, v])], to: own)
          try SafeTensors.write(floats: [("w", [4], [v, v, v, v])], to: shared)
          let read = try SafeTensorsFile(contentsOf: shared).floats("w")
          if Set(read).count != 1 { failures.withLock { $0.append("torn shared file \(read)") } }
          if try SafeTensorsFile(contentsOf: own).floats("w") != [v, v, v, v] {
            failures.withLock { $0.append("thread \(t) lost its own save \(i)") }
          }
        } catch {
          failures.withLock { $0.append("thread \(t) save \(i): \(error)") }
        }
      }
    }
    #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
    let left = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
    #expect(left == Set(["shared.safetensors"] + (0..<4).map { "t\($0).safetensors" }))
  }
}
