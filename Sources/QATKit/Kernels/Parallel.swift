import Dispatch
import Foundation

/// A raw pointer that may cross into `concurrentPerform` workers writing disjoint ranges.
package struct SendablePointer<T>: @unchecked Sendable {
  package let base: UnsafeMutablePointer<T>
  package init(_ base: UnsafeMutablePointer<T>) { self.base = base }
  package init?(_ buffer: UnsafeMutableBufferPointer<T>) {
    guard let b = buffer.baseAddress else { return nil }
    base = b
  }
}

/// A read-only raw pointer that may cross into `concurrentPerform` workers.
package struct SendableConstPointer<T>: @unchecked Sendable {
  package let base: UnsafePointer<T>
  package init(_ base: UnsafePointer<T>) { self.base = base }
  package init?(_ buffer: UnsafeBufferPointer<T>) {
    guard let b = buffer.baseAddress else { return nil }
    base = b
  }
}

/// Splitting of data-parallel loops over the machine's cores.
package enum Parallel {
  /// Active processor count, read once.
  package static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

  /// Calls `body` on disjoint ranges covering `0..<count`, in parallel when the work is large.
  ///
  /// - Parameters:
  ///   - count: Number of items.
  ///   - grain: Minimum items per chunk worth a thread (by cost of one item).
  package static func forRanges(
    _ count: Int, grain: Int, _ body: @Sendable (Range<Int>) -> Void
  ) {
    guard count > 0 else { return }
    Allocation.prepare()
    let chunks = min(cores, max(1, count / max(1, grain)))
    if chunks == 1 { body(0..<count); return }
    let per = (count + chunks - 1) / chunks
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
      let lo = c * per
      let hi = min(count, lo + per)
      if lo < hi { body(lo..<hi) }
    }
  }
}
