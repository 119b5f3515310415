import Foundation

extension Communicator {
  /// After rank 0 wrote the file at `url` (a checkpoint), returns where every rank can read the
  /// same bytes: `url` itself on ranks that see rank 0's file there (a shared file system,
  /// checked by length and checksum), otherwise a private copy of rank 0's bytes written
  /// atomically to this rank's temporary directory. Collective; with one rank it returns `url`.
  ///
  /// - Throws: ``CommunicatorError/rootFailed(_:)`` when rank 0 cannot read its file, file
  ///   errors writing the copy, ``CommunicatorError`` when a collective fails.
  public func sharedFile(_ url: URL) throws -> URL {
    guard size > 1 else { return url }
    var rootBytes: [UInt8] = []
    try onRoot { rootBytes = [UInt8](try Data(contentsOf: url)) }
    let digest = try broadcast(isRoot ? Self.digest(rootBytes) : [], root: 0)
    let same = isRoot || ((try? Data(contentsOf: url)).map { Self.digest([UInt8]($0)) == digest } ?? false)
    if try all(same) { return url }
    let bytes = try broadcast(rootBytes, root: 0)
    if same { return url }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qatkit-rank\(rank)-\(ProcessInfo.processInfo.processIdentifier)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let copy = directory.appendingPathComponent(url.lastPathComponent)
    try AtomicFile.write(to: copy) { try $0.write(contentsOf: Data(bytes)) }
    return copy
  }

  /// Length and FNV-1a checksum of `bytes`, 16 bytes.
  private static func digest(_ bytes: [UInt8]) -> [UInt8] {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    return withUnsafeBytes(of: (UInt64(bytes.count).littleEndian, hash.littleEndian)) { Array($0) }
  }
}
