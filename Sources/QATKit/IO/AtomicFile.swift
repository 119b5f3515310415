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
public enum AtomicFile {
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
    let temporary = directory.appendingPathComponent(
      ".\(destination.lastPathComponent).\(UUID().uuidString).tmp")
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
