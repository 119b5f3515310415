import Foundation
import QATKit

/// Every rank of a data-parallel job reads its inputs itself (the CSV, the architecture, the
/// weights, the checkpoints given on the command line). Ranks that read different bytes (a
/// stale copy on one machine) would train or calibrate on different data or models without any
/// error, so the commands check, once per input, that every rank prepared the same thing.
extension DistributedSession {
  /// Checks that every rank prepared the same training and test rows (features, labels, shapes).
  ///
  /// - Throws: ``CLIError/input(_:)`` on every rank when some rank differs;
  ///   `CommunicatorError` when the reduction fails.
  static func checkSameData(_ data: PreparedData, world: any Communicator = world) throws {
    guard world.size > 1 else { return }
    var sum = Checksum()
    for d in [data.train, data.test] {
      sum.add(d.sampleShape)
      sum.add(d.features)
      sum.add(d.labels)
    }
    guard try agree(sum.value, world: world) else {
      throw CLIError.input(
        "the ranks prepared different data (rank \(world.rank)'s checksum \(String(sum.value, radix: 16))): every rank "
          + "reads the data files itself, so each must see the same files at the same paths (a shared file system, or "
          + "identical copies on every machine)")
    }
  }

  /// Checks that every rank built or restored the same `model` (every tensor of its state dict:
  /// weights, buffers, quantizer ranges).
  ///
  /// - Throws: ``CLIError/input(_:)`` on every rank naming `source` when some rank differs;
  ///   `CommunicatorError` when the reduction fails.
  static func checkSameModel(_ model: Module, source: String, world: any Communicator = world) throws {
    guard world.size > 1 else { return }
    var sum = Checksum()
    for (name, t) in model.stateDict() {
      sum.add(Array(name.utf8).map(Int.init))
      sum.add(t.shape)
      sum.add(t.scalars)
    }
    guard try agree(sum.value, world: world) else {
      throw CLIError.input(
        "the ranks loaded different models from \(source) (rank \(world.rank)'s checksum \(String(sum.value, radix: 16))): "
          + "every rank reads the model files itself, so each must see the same files at the same paths (a shared file "
          + "system, or identical copies on every machine)")
    }
  }

  /// Whether `checksum` is the same on every rank (one all-reduce; every rank gets the answer).
  static func agree(_ checksum: UInt64, world: any Communicator) throws -> Bool {
    // Two 32-bit halves are exact in a Double; max(x) == -max(-x) on every rank iff all agree.
    let hi = Double(checksum >> 32), lo = Double(checksum & 0xffff_ffff)
    let r = try world.allReduce([hi, lo, -hi, -lo], .max)
    return r[0] == -r[2] && r[1] == -r[3]
  }
}

/// A 64-bit FNV-1a checksum of numbers' bit patterns.
struct Checksum {
  private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

  private mutating func mix(_ x: UInt64) { value = (value ^ x) &* 0x0000_0100_0000_01b3 }

  mutating func add(_ values: [Float]) {
    values.withUnsafeBufferPointer { b in
      for v in b { mix(UInt64(v.bitPattern)) }
    }
    mix(UInt64(values.count))
  }

  mutating func add(_ values: [Int]) {
    for v in values { mix(UInt64(bitPattern: Int64(v))) }
    mix(UInt64(values.count))
  }
}
