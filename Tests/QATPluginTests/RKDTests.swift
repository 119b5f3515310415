import Foundation
import QATKit
import QATPluginRKD
import QATPluginTesting
import QATPlugins
import QATRegistry
import Testing

/// RKD: relational knowledge distillation (Park et al., CVPR 2019).
@Suite struct RKDTests {
  @Test func conforms() {
    let report = CriterionConformance(
      plugin: RKDPlugin.self, kind: "rkd",
      specs: [.object(["kind": .string("rkd")]), .object(["kind": .string("rkd"), "distance_weight": .number(1), "angle_weight": .number(2)]),
              .object(["kind": .string("rkd"), "angle_weight": .number(0)])],
      invalidSpecs: [.object(["kind": .string("rkd"), "distance_weight": .number(-1)]),
                     .object(["kind": .string("rkd"), "distance_weight": .number(0), "angle_weight": .number(0)])],
      studentShape: [6, 5], teacherShape: [6, 3]
    ).run()
    #expect(report.passed, "\(report)")
  }

  /// Relations are invariant to the scale of the embedding (distances are normalized by their
  /// mean, angles are scale-free), the loss of identical structures is 0, and widths may
  /// differ while row counts may not.
  @Test func relationsIgnoreScaleAndWidth() throws {
    let c = try RKDCriterion()
    let t = GradientCheck.randn([7, 4], seed: 1), s = GradientCheck.randn([7, 9], seed: 2)
    let base = c.loss(student: s, teacher: t, extras: CriterionExtras()).item
    let scaled = c.loss(student: s * 3, teacher: t, extras: CriterionExtras()).item
    #expect(isClose(base, scaled, atol: 1e-4, rtol: 1e-4))
    #expect(base > 0)
    #expect(c.loss(student: t * 2.5, teacher: t, extras: CriterionExtras()).item < 1e-4)
    #expect(c.shapeProblem(student: [7, 9], teacher: [7, 4]) == nil)
    #expect(c.shapeProblem(student: [6, 9], teacher: [7, 4]) != nil)
  }

  /// The paper's claim that relations transfer across architectures and widths: a student
  /// with a 4-dimensional output, trained on digits with RKD alone (no labels) against a
  /// 10-logit teacher, learns an embedding whose nearest neighbours classify the test set
  /// almost as well as the teacher's; the same untrained student is near chance level.
  @Test func studentLearnsTheTeachersStructureWithoutLabels() throws {
    let (train, test) = try Digits.load()
    let teacher = MLP([64, 64, 10], seed: 0)
    try Training.fit(teacher, data: train, epochs: 5, batchSize: 64, optimizer: Adam(teacher.parameters(), learningRate: 3e-3), seed: 0) {
      Loss.crossEntropy(teacher($0), $1)
    }
    teacher.eval()
    let student = MLP([64, 16, 4], seed: 10)
    let before = nearestNeighbourAccuracy(student, train: train, test: test)
    let json = try JSONValue(parsing: #"{"criteria": [{"criterion": {"kind": "rkd"}}]}"#)
    let kd = try KDConfig(json: json, teacher: teacher, registry: InTreePlugins.registry)
    let model = try convert(student, modes: [.kdLoss(kd)], registry: InTreePlugins.registry)
    try Training.fit(
      model, data: train, epochs: 2, batchSize: 32, optimizer: Adam(model.parameters(), learningRate: 3e-3), seed: 0,
      labelsAreClasses: false  // no labels: the 4-d output is an embedding, not classes
    ) { x, _ in
      _ = model(x)
      return try model.computeKDLoss()
    }
    student.eval()
    let after = nearestNeighbourAccuracy(student, train: train, test: test)
    let reference = nearestNeighbourAccuracy(teacher, train: train, test: test)
    print("RKD claim (digits, 4-d student from a 10-logit teacher, no labels): 1-NN accuracy \(before) → \(after), teacher \(reference)")
    #expect(before < 0.6)
    #expect(after >= 0.8)
    #expect(after >= reference - 0.15)
  }

  /// Test accuracy of a 1-nearest-neighbour classifier on `model`'s outputs.
  func nearestNeighbourAccuracy(_ model: Module, train: Dataset, test: Dataset) -> Float {
    let a = Tensor.withoutGrad { model(train.all.inputs) }, b = Tensor.withoutGrad { model(test.all.inputs) }
    // ‖b_i − a_j‖² = ‖b_i‖² − 2 b_i·a_j + ‖a_j‖²; the ‖b_i‖² term does not change the argmin.
    let cross = Tensor.matmul(b, transposed: a).scalars
    let norms = a.squared().sum(axis: -1).scalars
    var correct = 0
    for i in 0..<test.count {
      var best = Float.infinity, label = -1
      for j in 0..<train.count {
        let d = norms[j] - 2 * cross[i * train.count + j]
        if d < best { (best, label) = (d, train.labels[j]) }
      }
      if label == test.labels[i] { correct += 1 }
    }
    return Float(correct) / Float(test.count)
  }
}
