/// A seeded pseudo-random generator that gives the same numbers on every machine.
///
/// The algorithm is xoshiro256** (Blackman and Vigna, 2018) seeded through SplitMix64.
/// Uniform floats take the top 24 bits of a draw (`[0, 1)` in steps of 2^-24); normal draws use
/// the Box-Muller transform in `Double`, rounded once to `Float`. Neither depends on the
/// platform's libc random functions, so a fixed seed reproduces a run bit for bit.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
  private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

  /// Creates a generator from a 64-bit seed.
  public init(seed: UInt64) {
    var x = seed
    func splitmix() -> UInt64 {
      x &+= 0x9E37_79B9_7F4A_7C15
      var z = x
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
  }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
    let t = s1 << 17
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
    s3 = (s3 << 45) | (s3 >> 19)
    return result
  }

  /// A uniform `Float` in `[0, 1)`.
  public mutating func nextUniform() -> Float { Float(next() >> 40) * 0x1p-24 }

  /// A standard normal `Float` (Box-Muller).
  public mutating func nextNormal() -> Float {
    let u1 = max(Double(next() >> 11) * 0x1p-53, 0x1p-60)
    let u2 = Double(next() >> 11) * 0x1p-53
    return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
  }

  /// A uniform integer in `0..<bound`.
  public mutating func nextInt(below bound: Int) -> Int { Int(next(upperBound: UInt64(bound))) }

  /// Fisher-Yates shuffle of `0..<n`.
  public mutating func permutation(_ n: Int) -> [Int] {
    var p = Array(0..<n)
    if n > 1 {
      for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, nextInt(below: i + 1)) }
    }
    return p
  }
}
