/// Inputs besides the two outputs that a ``Criterion`` may use: labels, a per-row mask, or
/// any named tensor a custom criterion needs.
public struct CriterionExtras {
  /// Integer labels, one per row (for criteria that use the ground truth).
  public var labels: [Int]?
  /// One weight per row of the compared outputs (rows are all axes but the last), usually
  /// 0 or 1: per-token masking for sequence models. Rows with weight 0 do not count and the
  /// mean is over the total weight.
  public var mask: [Float]?
  /// Named tensors for custom criteria.
  public var tensors: [String: Tensor]

  /// Creates extras; everything is optional.
  public init(labels: [Int]? = nil, mask: [Float]? = nil, tensors: [String: Tensor] = [:]) {
    self.labels = labels
    self.mask = mask
    self.tensors = tensors
  }
}

/// A distillation loss between a student output and the matching teacher output.
///
/// The student output is the prediction and carries gradients; the teacher output is the
/// target and never does. A criterion may own trainable tensors (an adapter projection from
/// student to teacher width): it lists them in ``learnableParameters()`` and the
/// ``DistillationModel`` exposes them to the optimizer through `parameters()`.
///
/// Plugins conform to this protocol (and to ``JSONCriterion`` to be created by name).
public protocol Criterion {
  /// A short name used to label the loss for logging, e.g. `"logits_kl"`.
  var name: String { get }
  /// The scalar loss of `student` against `teacher`.
  ///
  /// Called only after ``shapeProblem(student:teacher:)`` returned `nil` and a mask in
  /// `extras` has one value per row.
  func loss(student: Tensor, teacher: Tensor, extras: CriterionExtras) -> Tensor
  /// Trainable tensors owned by the criterion, with names such as `adapter.weight`.
  func learnableParameters() -> [(String, Tensor)]
  /// A description of the problem when the two output shapes cannot be compared, else `nil`.
  /// The default requires equal shapes.
  func shapeProblem(student: [Int], teacher: [Int]) -> String?
  /// The JSON description recorded in the mode history, e.g. `{"kind": "logits_kl", ...}`.
  var spec: JSONValue { get }
}

extension Criterion {
  /// No trainable tensors.
  public func learnableParameters() -> [(String, Tensor)] { [] }

  /// Requires equal shapes.
  public func shapeProblem(student: [Int], teacher: [Int]) -> String? {
    student == teacher ? nil : "student output \(student) and teacher output \(teacher) differ in shape"
  }

  /// `{"kind": name}`.
  public var spec: JSONValue { .object(["kind": .string(name)]) }
}

/// A ``Criterion`` that can be created by name from JSON (recipes, the registry).
public protocol JSONCriterion: Criterion, SendableMetatype {
  /// The registry name, e.g. `"logits_kl"`.
  static var kind: String { get }
  /// Creates the criterion from its JSON spec, strictly: unknown keys, wrong types and
  /// invalid values throw ``ConfigError`` naming the key path. A `"kind"` key, when present,
  /// must equal ``kind``.
  init(json: JSONValue) throws
}
