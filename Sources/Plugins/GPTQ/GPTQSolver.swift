import QATKit

/// GPTQ's weight update for one layer: `W [rows, cols]` (row-major), the Hessian `H = Σ x·xᵀ`
/// of its inputs, and a rounding grid.
///
/// Preparation (``prepare(hessian:weight:rows:cols:percDamp:actOrder:)``): inputs that never
/// fire (`H_ii = 0`) get `H_ii = 1` and a zero weight column; with act order the columns are
/// processed by decreasing `H_ii`; `λ = percDamp · mean(diag H)` is added to the diagonal; `U` is
/// the upper Cholesky factor of `H⁻¹` (`Uᵀ·U = H⁻¹`). Then, column `j` by column: `q = Q(w_j)`,
/// `e = (w_j − q) / U_jj`, and every later column `k` takes `w_k −= e · U_jk`.
/// ``blocked(_:rows:cols:u:blockSize:grid:order:)`` applies the later-column updates of a block
/// lazily (one matrix product per block, the paper's "lazy batch" updates); ``reference(_:rows:cols:u:grid:order:)``
/// is the plain column loop in Double, which the tests compare against.
enum GPTQSolver {
  struct Prepared {
    /// Processing order: position `p` handles original column `order[p]`.
    let order: [Int]
    /// `U` in processing order, Float, row-major `[cols, cols]`.
    let u: [Float]
    /// The damping that made `H` positive definite (`nil`: it never became so).
    let damping: Double?
    /// Columns whose input never fired.
    let deadColumns: Int
  }

  /// Dead columns, ordering, damping and `U`. The weight's dead columns are zeroed in place.
  /// If `H + λI` is not positive definite, λ grows tenfold up to five times; after that `u` is
  /// the identity (plain rounding), reported by `damping == nil`.
  static func prepare(
    hessian: SquareMatrix, weight: inout [Float], rows: Int, cols: Int, percDamp: Double, actOrder: Bool
  ) -> Prepared {
    var h = hessian
    var dead = 0
    for i in 0..<cols where h[i, i] == 0 {
      h[i, i] = 1
      for r in 0..<rows { weight[r * cols + i] = 0 }
      dead += 1
    }
    var order = Array(0..<cols)
    if actOrder {
      let diag = (0..<cols).map { h[$0, $0] }
      order.sort { diag[$0] > diag[$1] || (diag[$0] == diag[$1] && $0 < $1) }
    }
    var p = SquareMatrix(zeros: cols)
    for i in 0..<cols { for j in 0..<cols { p[i, j] = h[order[i], order[j]] } }
    let mean = (0..<cols).map { p[$0, $0] }.reduce(0, +) / Double(Swift.max(1, cols))
    var damp = percDamp * mean
    for _ in 0..<6 {
      var d = p
      for i in 0..<cols { d[i, i] += damp }
      if let u = d.upperCholeskyOfInverse() {
        return Prepared(order: order, u: u.values.map { Float($0) }, damping: damp, deadColumns: dead)
      }
      damp = Swift.max(damp * 10, 1e-8)
    }
    var identity = [Float](repeating: 0, count: cols * cols)
    for i in 0..<cols { identity[i * cols + i] = 1 }
    return Prepared(order: order, u: identity, damping: nil, deadColumns: dead)
  }

  /// The fast update: blocks of `blockSize` columns; inside a block column by column, the
  /// columns after the block once per block with one matrix product. `weight` is in original
  /// column order and returned rounded, in original order.
  static func blocked(
    _ weight: [Float], rows: Int, cols: Int, u: [Float], blockSize: Int, grid: ColumnGrid, order: [Int]
  ) throws -> [Float] {
    // Work in processing order.
    var w = [Float](repeating: 0, count: rows * cols)
    for r in 0..<rows { for p in 0..<cols { w[r * cols + p] = weight[r * cols + order[p]] } }
    var start = 0
    while start < cols {
      let end = Swift.min(cols, start + blockSize)
      let width = end - start
      var block = [Float](repeating: 0, count: rows * width)
      var errors = [Float](repeating: 0, count: rows * width)
      for r in 0..<rows { for j in 0..<width { block[r * width + j] = w[r * cols + start + j] } }
      block.withUnsafeMutableBufferPointer { b in
        errors.withUnsafeMutableBufferPointer { e in
          u.withUnsafeBufferPointer { uu in
            for i in 0..<width {
              let c = start + i
              let d = uu[c * cols + c]
              let original = order[c]
              for r in 0..<rows {
                let base = r * width
                let value = b[base + i]
                let q = grid.round(value, r, original)
                let err = (value - q) / d
                b[base + i] = q
                e[base + i] = err
                if i + 1 < width {
                  let urow = c * cols + start
                  for j in (i + 1)..<width { b[base + j] -= err * uu[urow + j] }
                }
              }
            }
          }
        }
      }
      for r in 0..<rows { for j in 0..<width { w[r * cols + start + j] = block[r * width + j] } }
      if end < cols {
        // W[:, end...] -= E · U[start..<end, end...]
        let rest = cols - end
        var ublock = [Float](repeating: 0, count: width * rest)
        for i in 0..<width { for j in 0..<rest { ublock[i * rest + j] = u[(start + i) * cols + end + j] } }
        let update = try Tensor.withoutGrad {
          try Tensor(errors, shape: [rows, width]).matmul(try Tensor(ublock, shape: [width, rest]))
        }
        update.withUnsafeBufferPointer { up in
          for r in 0..<rows { for j in 0..<rest { w[r * cols + end + j] -= up[r * rest + j] } }
        }
      }
      start = end
    }
    var out = [Float](repeating: 0, count: rows * cols)
    for r in 0..<rows { for p in 0..<cols { out[r * cols + order[p]] = w[r * cols + p] } }
    return out
  }

  /// The plain reference: column by column, every later column updated at once, in Double.
  static func reference(_ weight: [Float], rows: Int, cols: Int, u: [Float], grid: ColumnGrid, order: [Int]) -> [Float] {
    var w = [Double](repeating: 0, count: rows * cols)
    for r in 0..<rows { for p in 0..<cols { w[r * cols + p] = Double(weight[r * cols + order[p]]) } }
    var out = [Float](repeating: 0, count: rows * cols)
    for p in 0..<cols {
      let d = Double(u[p * cols + p])
      for r in 0..<rows {
        let value = Float(w[r * cols + p])
        let q = grid.round(value, r, order[p])
        out[r * cols + order[p]] = q
        let err = (Double(value) - Double(q)) / d
        for k in (p + 1)..<Swift.max(p + 1, cols) { w[r * cols + k] -= err * Double(u[p * cols + k]) }
      }
    }
    return out
  }

  /// `Σ_r (w_r − v_r)·H·(w_r − v_r)ᵀ` over the rows: the layer's output error `‖X·(W − V)ᵀ‖²`
  /// on the calibration inputs for weights `v` instead of `w` (one Float matrix product).
  static func outputError(_ w: [Float], _ v: [Float], rows: Int, cols: Int, hessian: SquareMatrix) throws -> Double {
    let e = zip(w, v).map { $0 - $1 }
    let eh = try Tensor.withoutGrad {
      try Tensor(e, shape: [rows, cols]).matmul(try Tensor(hessian.values.map { Float($0) }, shape: [cols, cols]))
    }
    return eh.withUnsafeBufferPointer { p in
      var total = 0.0
      for i in 0..<p.count { total += Double(p[i] * e[i]) }
      return total
    }
  }
}
