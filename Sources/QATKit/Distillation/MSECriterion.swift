/// Feature distillation: mean squared error between student and teacher features, averaged
/// over all elements (masked by rows when ``CriterionExtras/mask`` is set).
///
/// With an adapter, the student features first go through a learned ``Linear`` projection
/// from the student's width to the teacher's (FitNets-style hint layer); the projection's
/// tensors are ``learnableParameters()``, which the distillation model hands to the
/// optimizer. Adapters are trained with the student and dropped at export.
///
/// JSON: `{"kind": "mse"}` or
/// `{"kind": "mse", "adapter": {"student_features": 16, "teacher_features": 32, "seed": 0}}`.
public struct MSECriterion: JSONCriterion {
  /// `"mse"`.
  public static let kind = "mse"
  /// The student → teacher projection, if any.
  public let adapter: Linear?
  private let adapterSeed: UInt64

  /// The kind.
  public var name: String { Self.kind }

  /// Plain MSE: the outputs must have equal shapes.
  public init() {
    adapter = nil
    adapterSeed = 0
  }

  /// The largest adapter (`studentFeatures × teacherFeatures` weights): 2^26, 256 MiB.
  public static let maxAdapterWeights = 1 << 26

  /// MSE after a new learned projection `studentFeatures → teacherFeatures` on the last axis.
  ///
  /// - Throws: ``ConfigError`` when a width is not positive or the adapter would have more than
  ///   ``maxAdapterWeights`` weights.
  public init(adapterFrom studentFeatures: Int, to teacherFeatures: Int, seed: UInt64 = 0) throws {
    for (key, v) in [("student_features", studentFeatures), ("teacher_features", teacherFeatures)] where v < 1 {
      throw ConfigError.invalidValue("\(Self.kind) criterion", path: "adapter.\(key)", "must be ≥ 1, got \(v)")
    }
    let (weights, overflow) = studentFeatures.multipliedReportingOverflow(by: teacherFeatures)
    guard !overflow, weights <= Self.maxAdapterWeights else {
      throw ConfigError.invalidValue(
        "\(Self.kind) criterion", path: "adapter",
        "an adapter \(studentFeatures) → \(teacherFeatures) would have more than \(Self.maxAdapterWeights) weights; check student_features and teacher_features")
    }
    adapter = Linear(studentFeatures, teacherFeatures, seed: seed)
    adapterSeed = seed
  }

  /// MSE after a given projection layer (its tensors become trainable parameters).
  public init(adapter: Linear) {
    self.adapter = adapter
    adapterSeed = 0
  }

  /// Creates the criterion from its JSON spec (see the type's documentation).
  public init(json: JSONValue) throws {
    let spec = try KDJSON.decode(Spec.self, from: json, kind: Self.kind)
    if let a = spec.adapter {
      do {
        try self.init(adapterFrom: a.studentFeatures, to: a.teacherFeatures, seed: a.seed)
      } catch let e as ConfigError {
        throw e.prefixed("", context: "\(Self.kind) spec")
      }
    } else {
      self.init()
    }
  }

  /// The adapter's tensors (`adapter.weight`, `adapter.bias`), or none.
  public func learnableParameters() -> [(String, Tensor)] {
    adapter.map { a in a.namedParameters().map { ("adapter." + $0.0, $0.1) } } ?? []
  }

  /// Equal shapes, or with an adapter: the student's last axis is the adapter's input width
  /// and the projected shape equals the teacher's.
  public func shapeProblem(student: [Int], teacher: [Int]) -> String? {
    guard let adapter else {
      return student == teacher ? nil : "student output \(student) and teacher output \(teacher) differ in shape"
    }
    guard let last = student.last, last == adapter.inFeatures else {
      return "student output \(student) does not end in the adapter's input width \(adapter.inFeatures)"
    }
    let projected = Array(student.dropLast()) + [adapter.outFeatures]
    return projected == teacher
      ? nil : "adapted student output \(projected) and teacher output \(teacher) differ in shape"
  }

  /// The mean squared error (after the adapter, if any).
  public func loss(student: Tensor, teacher: Tensor, extras: CriterionExtras) -> Tensor {
    let s = adapter.map { $0(student) } ?? student
    guard let mask = extras.mask else { return Loss.mse(s, teacher) }
    let d = RowReduction.matrix(s) - RowReduction.matrix(teacher)
    return RowReduction.mean((d * d).mean(axis: -1), mask: mask)
  }

  /// The JSON spec; the adapter's trained weights are not part of it.
  public var spec: JSONValue {
    var o: [String: JSONValue] = ["kind": .string(Self.kind)]
    if let adapter {
      o["adapter"] = .object([
        "student_features": .number(Double(adapter.inFeatures)),
        "teacher_features": .number(Double(adapter.outFeatures)),
        "seed": .number(Double(adapterSeed)),
      ])
    } else {
      o["adapter"] = .null
    }
    return .object(o)
  }

  struct AdapterSpec: Codable {
    var studentFeatures: Int
    var teacherFeatures: Int
    var seed: UInt64

    enum CodingKeys: String, CodingKey {
      case studentFeatures = "student_features", teacherFeatures = "teacher_features", seed
    }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      studentFeatures = try c.decode(Int.self, forKey: .studentFeatures)
      teacherFeatures = try c.decode(Int.self, forKey: .teacherFeatures)
      seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
    }
  }

  struct Spec: Codable, KindTagged {
    var kind: String?
    var adapter: AdapterSpec?

    enum CodingKeys: String, CodingKey { case kind, adapter }

    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      kind = try c.decodeIfPresent(String.self, forKey: .kind) ?? MSECriterion.kind
      adapter = try c.decodeIfPresent(AdapterSpec.self, forKey: .adapter)
    }

    func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encodeIfPresent(kind, forKey: .kind)
      // Always present (null when absent) so unknown-key errors list it among the known keys.
      if let adapter { try c.encode(adapter, forKey: .adapter) } else { try c.encodeNil(forKey: .adapter) }
    }
  }
}
