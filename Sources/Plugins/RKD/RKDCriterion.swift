import QATKit

/// Relational knowledge distillation (Park, Kim, Lu, Cho, CVPR 2019): the student learns
/// the *structure* of the teacher's outputs over a batch, not the outputs themselves.
///
/// For the rows `s_i` of the student output and `t_i` of the teacher's (rows are all axes but
/// the last; the widths may differ, no adapter needed):
/// - distance-wise: `ψ_D(i, j) = ‖x_i − x_j‖ / μ`, `μ` the mean distance over pairs `i ≠ j`;
/// - angle-wise: `ψ_A(i, j, k) = ⟨e_ij, e_ik⟩`, `e_ij = (x_j − x_i) / ‖x_j − x_i‖` (the cosine of
///   the angle at `x_i`);
/// - loss: `λ_D · mean Huber(ψ_D(s), ψ_D(t)) + λ_A · mean Huber(ψ_A(s), ψ_A(t))`, Huber with
///   threshold 1 (PyTorch's `smooth_l1_loss`), means over all `N²` and `N³` entries as the
///   authors' code takes them.
///
/// Defaults `λ_D = 25`, `λ_A = 50` are the classification setting of the paper's code (its
/// metric-learning runs use 1 and 2). A row mask (``CriterionExtras/mask``) selects the rows
/// with weight > 0; with fewer than three rows the loss is 0. Memory is `O(N³)` in the batch
/// size (the angle term). Differentiable through the engine's operations; the teacher side is
/// computed without gradients.
///
/// JSON: `{"kind": "rkd", "distance_weight": 25, "angle_weight": 50}` (both optional, ≥ 0,
/// not both 0).
public struct RKDCriterion: JSONCriterion {
  /// `"rkd"`.
  public static let kind = "rkd"

  /// The JSON options.
  public struct Options: PluginOptions, Equatable {
    /// `λ_D`.
    public var distanceWeight: Float = 25
    /// `λ_A`.
    public var angleWeight: Float = 50
    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
      case distanceWeight = "distance_weight", angleWeight = "angle_weight"
    }
  }

  /// The options in use.
  public let options: Options

  /// The kind.
  public var name: String { Self.kind }

  /// Creates the criterion.
  ///
  /// - Throws: ``ConfigError`` when a weight is negative or not finite, or both are 0.
  public init(distanceWeight: Float = 25, angleWeight: Float = 50) throws {
    var o = Options()
    o.distanceWeight = distanceWeight
    o.angleWeight = angleWeight
    try self.init(options: o, context: "\(Self.kind) criterion")
  }

  /// Creates the criterion from `{"kind": "rkd", ...}`.
  public init(json: JSONValue) throws {
    try self.init(options: StrictJSON.decode(Options.self, from: json, kind: Self.kind), context: "\(Self.kind) spec")
  }

  private init(options: Options, context: String) throws {
    _ = try StrictJSON.nonNegative(options.distanceWeight, context, path: "distance_weight")
    _ = try StrictJSON.nonNegative(options.angleWeight, context, path: "angle_weight")
    guard options.distanceWeight > 0 || options.angleWeight > 0 else {
      throw ConfigError.invalidValue(context, path: "", "distance_weight and angle_weight are both 0: the loss would be 0")
    }
    self.options = options
  }

  /// Student and teacher need the same number of rows; their widths may differ.
  public func shapeProblem(student: [Int], teacher: [Int]) -> String? {
    let rs = Self.rows(student), rt = Self.rows(teacher)
    return rs == rt ? nil : "rkd relates rows: the student has \(rs) rows \(student), the teacher \(rt) rows \(teacher)"
  }

  /// The weighted relational loss.
  public func loss(student: Tensor, teacher: Tensor, extras: CriterionExtras) -> Tensor {
    var s = Self.matrix(student), t = Self.matrix(teacher)
    if let mask = extras.mask {
      let kept = mask.indices.filter { mask[$0] > 0 }
      s = s.gather(kept, axis: 0)
      t = t.gather(kept, axis: 0)
    }
    guard s.shape[0] >= 3 else { return Tensor(scalar: 0) }
    let (sd, sa) = Self.relations(s)
    let (td, ta) = Tensor.withoutGrad { Self.relations(t) }
    var total = Tensor(scalar: 0)
    if options.distanceWeight > 0 { total = total + Self.huber(sd - td).mean() * options.distanceWeight }
    if options.angleWeight > 0 { total = total + Self.huber(sa - ta).mean() * options.angleWeight }
    return total
  }

  /// `{"kind": "rkd", "distance_weight": λ_D, "angle_weight": λ_A}`.
  public var spec: JSONValue {
    .object([
      "kind": .string(Self.kind), "distance_weight": .number(Double(options.distanceWeight)),
      "angle_weight": .number(Double(options.angleWeight)),
    ])
  }

  // MARK: Relations

  static let eps: Float = 1e-12

  static func rows(_ shape: [Int]) -> Int { shape.dropLast().reduce(1, *) }

  /// `x` as `[rows, width]`.
  static func matrix(_ x: Tensor) -> Tensor {
    // The element count is unchanged, so the reshape cannot fail.
    try! x.reshaped([rows(x.shape), x.shape.last ?? 1])
  }

  /// Normalized pairwise distances `[N, N]` (0 on the diagonal) and angle cosines `[N, N, N]`.
  static func relations(_ x: Tensor) -> (distance: Tensor, angle: Tensor) {
    let n = x.shape[0]
    let diff = x.unsqueezed(0) - x.unsqueezed(1)  // diff[i][j] = x_j − x_i
    let squared = diff.squared().sum(axis: -1)  // [N, N]
    let norm = (squared + eps).sqrt()
    let offDiagonal = try! Tensor((0..<(n * n)).map { $0 / n == $0 % n ? 0 : 1 }, shape: [n, n])
    let distance = norm * offDiagonal
    let mean = distance.sum() / Float(n * (n - 1))
    let unit = diff / norm.unsqueezed(-1)  // e_ij; 0 for i == j
    let angle = Tensor.matmul(unit, transposed: unit)  // angle[i][j][k] = ⟨e_ij, e_ik⟩
    return (distance / mean, angle)
  }

  /// Huber loss with threshold 1 per element: `½d²` for `|d| < 1`, `|d| − ½` beyond.
  static func huber(_ d: Tensor) -> Tensor {
    let a = d.abs()
    let inner = Tensor.minimum(a, Tensor(scalar: 1))
    return inner.squared() * 0.5 + (a - inner)
  }
}
