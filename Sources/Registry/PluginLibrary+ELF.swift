import Foundation

extension PluginLibrary {
  /// Checks, before `dlopen` sees the file, that it is a complete 64-bit little-endian ELF
  /// shared object: the magic, class, byte order and type, a program header table inside the
  /// file, and every loadable segment's file bytes inside the file.
  ///
  /// `dlopen` maps the segments a file's headers describe and trusts them: a library cut short
  /// (a copy interrupted, a download stopped) has segments that reach past the end of the file,
  /// and the dynamic loader then dies with a bus error touching the missing pages, killing the
  /// whole process instead of returning an error.
  ///
  /// - Throws: ``PluginLoadError/cannotOpen(path:reason:)`` saying what is wrong.
  static func checkELF(at absolute: String, path: String) throws {
    func fail(_ reason: String) -> PluginLoadError { .cannotOpen(path: path, reason: reason) }
    guard let handle = FileHandle(forReadingAtPath: absolute) else { throw fail("cannot be opened for reading") }
    defer { try? handle.close() }
    let size = (try? handle.seekToEnd()).map(Int.init) ?? 0
    try? handle.seek(toOffset: 0)
    let header = [UInt8]((try? handle.read(upToCount: 64)) ?? Data())
    guard header.count == 64, header[0..<4] == [0x7F, 0x45, 0x4C, 0x46] else {
      throw fail("invalid ELF header (not an ELF file)")
    }
    func u16(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
    func u64(_ b: [UInt8], _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
    guard header[4] == 2, header[5] == 1 else { throw fail("invalid ELF header (not a 64-bit little-endian ELF file)") }
    guard u16(header, 16) == 3 else { throw fail("invalid ELF header (ELF type \(u16(header, 16)), not a shared object") }
    let phoff = u64(header, 32), phentsize = u16(header, 54), phnum = u16(header, 56)
    guard phentsize >= 56, phnum > 0, phoff < UInt64(size),
      UInt64(size) - phoff >= UInt64(phentsize) * UInt64(phnum)
    else { throw fail("file too short: its program header table is missing or reaches past the end (\(size) bytes); was it cut short?") }
    try? handle.seek(toOffset: phoff)
    let table = [UInt8]((try? handle.read(upToCount: phentsize * phnum)) ?? Data())
    guard table.count == phentsize * phnum else { throw fail("its program header table cannot be read") }
    for i in 0..<phnum {
      let e = i * phentsize
      let type = UInt32(table[e]) | UInt32(table[e + 1]) << 8 | UInt32(table[e + 2]) << 16 | UInt32(table[e + 3]) << 24
      guard type == 1 else { continue }  // PT_LOAD
      let offset = u64(table, e + 8), fileSize = u64(table, e + 32)
      let (end, overflow) = offset.addingReportingOverflow(fileSize)
      guard !overflow, end <= UInt64(size) else {
        throw fail("file too short: segment \(i) needs bytes up to offset \(overflow ? "beyond 2^64" : String(end)) but the file has \(size); was it cut short?")
      }
    }
  }
}
