/// Dense square matrices in Double, row-major, and the factorizations GPTQ needs: Cholesky,
/// the inverse through it, and the upper Cholesky factor of the inverse. Plain loops whose inner
/// loops run over contiguous rows (the compiler vectorizes them).
struct SquareMatrix: Equatable {
  let n: Int
  var values: [Double]

  init(n: Int, values: [Double]) {
    precondition(values.count == n * n)
    self.n = n
    self.values = values
  }

  init(zeros n: Int) { self.init(n: n, values: [Double](repeating: 0, count: n * n)) }

  subscript(i: Int, j: Int) -> Double {
    get { values[i * n + j] }
    set { values[i * n + j] = newValue }
  }

  /// The lower-triangular `L` with `L·Lᵀ = self`, or `nil` when the matrix is not (numerically)
  /// positive definite. Reads the lower triangle only.
  func cholesky() -> SquareMatrix? {
    var l = SquareMatrix(zeros: n)
    let ok = values.withUnsafeBufferPointer { a in
      l.values.withUnsafeMutableBufferPointer { out -> Bool in
        for j in 0..<n {
          let rj = j * n
          var d = a[rj + j]
          for k in 0..<j { d -= out[rj + k] * out[rj + k] }
          guard d > 0, d.isFinite else { return false }
          let ljj = d.squareRoot()
          out[rj + j] = ljj
          for i in (j + 1)..<Swift.max(j + 1, n) {
            let ri = i * n
            var s = a[ri + j]
            for k in 0..<j { s -= out[ri + k] * out[rj + k] }
            out[ri + j] = s / ljj
          }
        }
        return true
      }
    }
    return ok ? l : nil
  }

  /// `(L·Lᵀ)⁻¹` for this lower-triangular `L`: `L⁻ᵀ·L⁻¹`.
  func inverseFromCholesky() -> SquareMatrix {
    // L⁻¹ row by row: L[i][i]·row_i(L⁻¹) = e_i − Σ_{k<i} L[i][k]·row_k(L⁻¹) (row k is zero past k).
    var inv = SquareMatrix(zeros: n)
    values.withUnsafeBufferPointer { l in
      inv.values.withUnsafeMutableBufferPointer { m in
        for i in 0..<n {
          let ri = i * n
          m[ri + i] = 1
          for k in 0..<i {
            let f = l[ri + k]
            if f == 0 { continue }
            let rk = k * n
            for j in 0...k { m[ri + j] -= f * m[rk + j] }
          }
          let d = l[ri + i]
          for j in 0...i { m[ri + j] /= d }
        }
      }
    }
    // (L⁻¹)ᵀ·L⁻¹ = Σ_k row_kᵀ row_k, rows of L⁻¹ nonzero up to k.
    var out = SquareMatrix(zeros: n)
    inv.values.withUnsafeBufferPointer { m in
      out.values.withUnsafeMutableBufferPointer { o in
        for k in 0..<n {
          let rk = k * n
          for i in 0...k {
            let f = m[rk + i]
            if f == 0 { continue }
            let ri = i * n
            for j in 0...k { o[ri + j] += f * m[rk + j] }
          }
        }
      }
    }
    return out
  }

  /// The upper-triangular `U` with `Uᵀ·U = self⁻¹` (GPTQ's factor of the inverse Hessian), or
  /// `nil` when the matrix is not positive definite.
  func upperCholeskyOfInverse() -> SquareMatrix? {
    guard let l = cholesky(), let l2 = l.inverseFromCholesky().cholesky() else { return nil }
    return l2.transposed()
  }

  func transposed() -> SquareMatrix {
    var t = SquareMatrix(zeros: n)
    for i in 0..<n { for j in 0..<n { t.values[j * n + i] = values[i * n + j] } }
    return t
  }
}
