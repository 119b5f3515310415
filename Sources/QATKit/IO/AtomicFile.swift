public import Foundation
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Writes a file atomically: readers see either the old file or the complete new one.
///
/// The content goes to a temporary file in the destination's directory, is flushed to disk
/// (`fsync`), then renamed over the destination (POSIX `rename`, atomic within a file
/// system). On any error the temporary file is removed and the destination is untouched.
///
/// Leftovers of killed writers: a process killed during a write (`kill -9`, power loss) cannot
/// remove its temporary file. Temporary files are therefore named
/// `.<file name>.qatkit-tmp.<host>.<pid>.<UUID>` (`<host>`: 8 hex digits of a hash of the host
/// name), and every write first removes, from the directory it writes into, the temporary files
/// of this naming whose host is this host and whose writer process no longer exists
/// (`kill(pid, 0)` fails with `ESRCH`). Files of live writers (another save in progress, in this
/// process or another), of other hosts sharing the directory, and files of any other naming are
/// never touched. A pid reused by an unrelated live process only delays the clean-up.
public enum AtomicFile {
  /// The marker between the destination's name and the writer's identity in a temporary name.
  package static let marker = "qatkit-tmp"

  /// This host's tag in temporary names: FNV-1a of the host name, 8 hex digits.
  package static let hostTag: String = {
    var h: UInt32 = 0x811C_9DC5
    for b in ProcessInfo.processInfo.hostName.utf8 {
      h ^= UInt32(b)
      h = h &* 0x0100_0193
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 8 - hex.count) + hex
  }()

  /// The temporary name a writer with process id `pid` uses for `destinationName`.
  package static func temporaryName(for destinationName: String, pid: Int32, id: UUID = UUID()) -> String {
    ".\(destinationName).\(marker).\(hostTag).\(pid).\(id.uuidString)"
  }

  /// The host tag and writer pid of a temporary name made by ``temporaryName(for:pid:id:)``, or
  /// `nil` for any other name.
  package static func writer(ofTemporaryName name: String) -> (host: String, pid: Int32)? {
    guard name.hasPrefix(".") else { return nil }
    let parts = name.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count >= 6, parts[parts.count - 4] == Substring(marker),
      UUID(uuidString: String(parts[parts.count - 1])) != nil,
      let pid = Int32(parts[parts.count - 2]), pid > 0
    else { return nil }
    let host = String(parts[parts.count - 3])
    guard host.count == 8, host.allSatisfy(\.isHexDigit) else { return nil }
    return (host, pid)
  }

  /// Whether a process with id `pid` exists (signal 0 probes without signalling; `EPERM` means
  /// it exists under another user).
  package static func processExists(_ pid: Int32) -> Bool {
    kill(pid_t(pid), 0) == 0 || errno != ESRCH
  }

  /// Removes the temporary files in `directory` left by writers on this host that no longer
  /// run; returns their names. Errors are ignored (best effort, another process may race us).
  @discardableResult
  package static func removeDeadLeftovers(in directory: URL) -> [String] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
    var removed: [String] = []
    for name in names {
      guard let w = writer(ofTemporaryName: name), w.host == hostTag, !processExists(w.pid) else { continue }
      if (try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))) != nil {
        removed.append(name)
      }
    }
    return removed
  }

  /// Creates or replaces the file at `url` with what `body` writes to the handle it is given.
  public static func write(
    to url: URL, _ body: (FileHandle) throws -> Void
  ) throws(SafeTensorsError) {
    let destination = url.standardizedFileURL
    let directory = destination.deletingLastPathComponent()
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue
    else {
      throw SafeTensorsError(
        .io(destination.path), "the directory \(directory.path) does not exist; create it before writing")
    }
    removeDeadLeftovers(in: directory)
    let temporary = directory.appendingPathComponent(
      temporaryName(for: destination.lastPathComponent, pid: ProcessInfo.processInfo.processIdentifier))
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
      throw SafeTensorsError(
        .io(destination.path), "cannot create a temporary file in \(directory.path); is it writable?")
    }
    do {
      let handle = try FileHandle(forWritingTo: temporary)
      do {
        try body(handle)
        try handle.synchronize()
        try handle.close()
      } catch {
        try? handle.close()
        throw error
      }
      guard rename(temporary.path, destination.path) == 0 else {
        let reason = String(cString: strerror(errno))
        throw SafeTensorsError(.io(destination.path), "cannot move the new file into place at \(destination.path): \(reason)")
      }
    } catch {
      try? FileManager.default.removeItem(at: temporary)
      if let error = error as? SafeTensorsError { throw error }
      throw SafeTensorsError(.io(destination.path), "writing \(destination.path) failed: \(error.localizedDescription)")
    }
    syncDirectory(directory.path)
  }

  /// Best effort: flush the directory entry so the rename survives a crash.
  private static func syncDirectory(_ path: String) {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return }
    _ = fsync(descriptor)
    _ = close(descriptor)
  }
}
