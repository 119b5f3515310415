/// How the elements of a tensor map to range groups (per tensor, channel or block), with
/// the shape of the matching `_amax` state. Quantizer plugins use it to share one range per
/// group and to hand calibrators group-major values.
public struct GroupLayout: Equatable, Sendable {
  /// The granularity, resolved against a shape.
  public enum Kind: Equatable, Sendable {
    /// One group.
    case tensor
    /// `channels` along the axis, `inner` = product of the dimensions after it.
    case channel(axis: Int, channels: Int, inner: Int)
    /// Blocks of this many consecutive elements of the last axis.
    case block(Int)
  }

  /// The resolved granularity.
  public let kind: Kind
  /// Number of groups (ranges).
  public let groupCount: Int
  /// The tensor shape.
  public let shape: [Int]

  /// Whether `granularity` applies to `shape` (axis in range, block size divides the last
  /// dimension).
  public static func fits(_ granularity: QuantGranularity, shape: [Int]) -> Bool {
    switch granularity {
    case .perTensor: true
    case .perChannel(let a): (-shape.count..<shape.count).contains(a)
    case .perBlock(let b): b > 0 && (shape.last ?? 1) % b == 0
    }
  }

  /// The layout of `granularity` over a tensor of `shape`; the caller checks ``fits(_:shape:)``
  /// first (configs are validated against layer shapes before any forward pass).
  public init(_ granularity: QuantGranularity, shape: [Int]) {
    self.shape = shape
    let n = shape.reduce(1, *)
    switch granularity {
    case .perTensor:
      kind = .tensor
      groupCount = 1
    case .perChannel(let a):
      let axis = a < 0 ? a + shape.count : a
      precondition((0..<shape.count).contains(axis), "quantizer axis \(a) out of range for shape \(shape)")
      let inner = shape[(axis + 1)...].reduce(1, *)
      kind = .channel(axis: axis, channels: shape[axis], inner: inner)
      groupCount = shape[axis]
    case .perBlock(let b):
      precondition(
        (shape.last ?? 1) % b == 0, "quantizer block size \(b) does not divide the last dimension of \(shape)")
      kind = .block(b)
      groupCount = n / b
    }
  }

  /// The shape of the range tensor: `[]` per tensor; the input rank with 1s except the axis
  /// per channel (ModelOpt's `[C, 1]` for axis 0); `[blocks, 1]` per block (ModelOpt's static
  /// block layout: the tensor viewed as `[-1, block]`, one range per row, in flat order).
  public var amaxShape: [Int] {
    switch kind {
    case .tensor: return []
    case .channel(let axis, let c, _):
      var s = [Int](repeating: 1, count: shape.count)
      s[axis] = c
      return s
    case .block:
      return [groupCount, 1]
    }
  }

  /// The group of flat element `i` (random access: one or two integer divisions).
  ///
  /// Inlinable, so a plugin kernel in another module pays no call per element; a kernel that
  /// walks the elements in order should iterate ``groups`` instead, which needs no division.
  @inlinable @inline(__always) public func group(_ i: Int) -> Int {
    switch kind {
    case .tensor: 0
    case .channel(_, let c, let inner): (i / inner) % c
    case .block(let b): i / b
    }
  }

  /// The group of every element in row-major order, as a sequence without divisions: the fast
  /// path for kernels that walk a tensor in order.
  ///
  /// ```swift
  /// var it = layout.groups.makeIterator()
  /// for i in 0..<n { y[i] = x[i] * scale[it.next()!] }
  /// // or: for (i, g) in zip(0..<n, layout.groups) { ... }
  /// ```
  ///
  /// The sequence is infinite in principle (it wraps around after ``shape``'s element count);
  /// bound it by the element count.
  @inlinable public var groups: GroupSequence { GroupSequence(self) }

  /// The values regrouped group-major, for calibrators.
  public func batch(_ x: [Float]) -> CalibrationBatch {
    switch kind {
    case .tensor: return CalibrationBatch(groupCount: 1, groupSize: x.count, values: x)
    case .block(let b): return CalibrationBatch(groupCount: groupCount, groupSize: b, values: x)
    case .channel(_, let c, let inner):
      let outer = x.count / Swift.max(c * inner, 1)
      if outer == 1 { return CalibrationBatch(groupCount: c, groupSize: inner, values: x) }
      var out = [Float](repeating: 0, count: x.count)
      var k = 0
      for ch in 0..<c {
        for o in 0..<outer {
          let base = (o * c + ch) * inner
          for j in 0..<inner {
            out[k] = x[base + j]
            k += 1
          }
        }
      }
      return CalibrationBatch(groupCount: c, groupSize: outer * inner, values: out)
    }
  }

  /// Largest finite `|x|` per group (0 for an empty or all-zero group).
  public func absMax(_ x: [Float]) -> [Float] {
    var m = [Float](repeating: 0, count: groupCount)
    x.withUnsafeBufferPointer { v in
      m.withUnsafeMutableBufferPointer { mm in
        for i in 0..<v.count where v[i].isFinite {
          let g = group(i)
          mm[g] = Swift.max(mm[g], Swift.abs(v[i]))
        }
      }
    }
    return m
  }
}

/// The group index of each element of a tensor in row-major order (see ``GroupLayout/groups``).
public struct GroupSequence: Sequence, Sendable {
  @usableFromInline let runLength: Int
  @usableFromInline let period: Int

  /// The groups of `layout`'s elements.
  @inlinable public init(_ layout: GroupLayout) {
    switch layout.kind {
    case .tensor:
      runLength = Int.max
      period = 1
    case .channel(_, let c, let inner):
      runLength = Swift.max(inner, 1)
      period = Swift.max(c, 1)
    case .block(let b):
      runLength = Swift.max(b, 1)
      period = Int.max
    }
  }

  /// An iterator starting at element 0.
  @inlinable public func makeIterator() -> Iterator { Iterator(runLength: runLength, period: period) }

  /// Counts through runs of equal groups: increments and compares only.
  public struct Iterator: IteratorProtocol, Sendable {
    @usableFromInline let runLength: Int
    @usableFromInline let period: Int
    @usableFromInline var group = 0
    @usableFromInline var inRun = 0

    @inlinable init(runLength: Int, period: Int) {
      self.runLength = runLength
      self.period = period
    }

    /// The group of the next element (never `nil`).
    @inlinable @inline(__always) public mutating func next() -> Int? {
      let g = group
      inRun &+= 1
      if inRun == runLength {
        inRun = 0
        group &+= 1
        if group == period { group = 0 }
      }
      return g
    }
  }
}
