/// Whether `a` and `b` agree within `atol + rtol·|b|` (NumPy's `isclose`, `b` the reference).
public func isClose(_ a: Float, _ b: Float, atol: Float = 1e-5, rtol: Float = 1e-5) -> Bool {
  if a == b { return true }
  guard a.isFinite, b.isFinite else { return false }
  return Swift.abs(a - b) <= atol + rtol * Swift.abs(b)
}

/// Whether two arrays have the same length and agree elementwise (see ``isClose(_:_:atol:rtol:)``).
public func allClose(_ a: [Float], _ b: [Float], atol: Float = 1e-5, rtol: Float = 1e-5) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy { isClose($0, $1, atol: atol, rtol: rtol) }
}

/// The largest `|a[i] - b[i]|`; `.infinity` when the lengths differ.
public func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
  guard a.count == b.count else { return .infinity }
  return zip(a, b).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}

