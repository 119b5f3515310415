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
  private func runShell(_ script: String) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", script]
    try p.run()
    p.waitUntilExit()
    return p.processIdentifier
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
}
