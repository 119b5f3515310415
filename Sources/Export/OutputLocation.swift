import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Where an export goes: checked before anything is written (the parent directory exists
/// and is writable; an existing output is an error unless overwriting), built under a
/// temporary name next to it, then renamed into place, so a failed export leaves nothing
/// behind and never damages what was there.
struct OutputLocation {
  /// The final path.
  let destination: URL
  let overwrite: Bool

  /// Checks `url` as an output.
  ///
  /// - Throws: ``ExportError/destinationExists(_:)`` or ``ExportError/cannotWrite(path:_:)``.
  init(_ url: URL, overwrite: Bool) throws {
    destination = url.standardizedFileURL
    self.overwrite = overwrite
    let parent = destination.deletingLastPathComponent()
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: parent.path, isDirectory: &isDir), isDir.boolValue else {
      throw ExportError.cannotWrite(path: destination.path, "the directory \(parent.path) does not exist; create it first")
    }
    guard access(parent.path, W_OK) == 0 else {
      throw ExportError.cannotWrite(path: destination.path, "the directory \(parent.path) is not writable")
    }
    if FileManager.default.fileExists(atPath: destination.path), !overwrite {
      throw ExportError.destinationExists(destination.path)
    }
  }

  /// A temporary path next to the destination (`.<name>.<uuid>.tmp`).
  func temporaryURL() -> URL {
    destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).tmp")
  }

  /// Creates an empty temporary directory next to the destination.
  func makeTemporaryDirectory() throws -> URL {
    let url = temporaryURL()
    do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false) } catch {
      throw ExportError.cannotWrite(path: destination.path, "cannot create a temporary directory next to it: \(error.localizedDescription)")
    }
    return url
  }

  /// Moves the finished `temporary` file or directory to the destination; an existing one is
  /// replaced only when overwriting (it is moved aside first and removed once the new one is
  /// in place).
  func commit(_ temporary: URL) throws {
    let fm = FileManager.default
    var aside: URL? = nil
    if fm.fileExists(atPath: destination.path) {
      guard overwrite else { throw ExportError.destinationExists(destination.path) }
      let old = temporaryURL().appendingPathExtension("old")
      guard rename(destination.path, old.path) == 0 else {
        throw ExportError.cannotWrite(path: destination.path, "cannot move the existing output aside: \(String(cString: strerror(errno)))")
      }
      aside = old
    }
    guard rename(temporary.path, destination.path) == 0 else {
      let reason = String(cString: strerror(errno))
      if let aside { _ = rename(aside.path, destination.path) }
      throw ExportError.cannotWrite(path: destination.path, "cannot move the new output into place: \(reason)")
    }
    if let aside { try? fm.removeItem(at: aside) }
  }
}
