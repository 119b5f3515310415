/// Transposes a 16×16 tile of floats in registers: reads row `i` as `row(i)` and calls
/// `store(v, q)` with `v[i] = row(i)[q]` for `q` in `0..<16`.
///
/// Four rounds of "de-interleave" on pairs of rows (`[u.evens, w.evens]`, `[u.odds, w.odds]` for
/// the rows whose index differs in bit 1, 2, 4 and then 8) move the row index into the lanes and
/// the lane index into the rows: 64 two-source permutes for 256 floats, instead of 256 strided
/// scalar stores. Used by `GEMM`'s transposed-`B` packing and the convolution's im2col packing;
/// both closures are inlined away.
@inline(__always)
func transposeTile16(_ row: (Int) -> SIMD16<Float>, _ store: (SIMD16<Float>, Int) -> Void) {
  @inline(__always)
  func split(_ u: inout SIMD16<Float>, _ w: inout SIMD16<Float>) {
    let evens = SIMD16(lowHalf: u.evenHalf, highHalf: w.evenHalf)
    w = SIMD16(lowHalf: u.oddHalf, highHalf: w.oddHalf)
    u = evens
  }
  var r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5), r6 = row(6), r7 = row(7)
  var r8 = row(8), r9 = row(9), r10 = row(10), r11 = row(11), r12 = row(12), r13 = row(13), r14 = row(14)
  var r15 = row(15)
  split(&r0, &r1); split(&r2, &r3); split(&r4, &r5); split(&r6, &r7)
  split(&r8, &r9); split(&r10, &r11); split(&r12, &r13); split(&r14, &r15)
  split(&r0, &r2); split(&r1, &r3); split(&r4, &r6); split(&r5, &r7)
  split(&r8, &r10); split(&r9, &r11); split(&r12, &r14); split(&r13, &r15)
  split(&r0, &r4); split(&r1, &r5); split(&r2, &r6); split(&r3, &r7)
  split(&r8, &r12); split(&r9, &r13); split(&r10, &r14); split(&r11, &r15)
  split(&r0, &r8); split(&r1, &r9); split(&r2, &r10); split(&r3, &r11)
  split(&r4, &r12); split(&r5, &r13); split(&r6, &r14); split(&r7, &r15)
  store(r0, 0); store(r1, 1); store(r2, 2); store(r3, 3); store(r4, 4); store(r5, 5); store(r6, 6); store(r7, 7)
  store(r8, 8); store(r9, 9); store(r10, 10); store(r11, 11); store(r12, 12); store(r13, 13); store(r14, 14)
  store(r15, 15)
}
