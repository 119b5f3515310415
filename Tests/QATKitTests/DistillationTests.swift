import Foundation
import QATTestSupport
import Testing

@testable import QATKit
import QATPluginTesting

// MARK: Helpers

/// A seeded input `[rows, cols]` (or any shape) with values in [-1, 1].
private func input(_ shape: [Int], seed: UInt64) -> Tensor {
  var rng = RandomGenerator(seed: seed)
  return .uniform(shape, low: -1, high: 1, using: &rng, requiresGrad: true)
}

/// Compares the gradient of `f` at `x` from `backward()` with central differences.
/// Returns the largest deviation relative to `atol + rtol·|numeric|` (≤ 1 passes).
private func gradientError(
  _ x: Tensor, eps: Float = 5e-3, atol: Float = 5e-4, rtol: Float = 2e-2, _ f: () -> Tensor
) -> Float {
  x.grad = nil
  f().backward()
  let analytic = x.grad?.scalars ?? [Float](repeating: 0, count: x.count)
  var worst: Float = 0
  for i in 0..<x.count {
    let original = x.storage[i]
    x.storage[i] = original + eps
    let up = Tensor.withoutGrad { f().item }
    x.storage[i] = original - eps
    let down = Tensor.withoutGrad { f().item }
    x.storage[i] = original
    let numeric = (up - down) / (2 * eps)
    worst = max(worst, abs(analytic[i] - numeric) / (atol + rtol * abs(numeric)))
  }
  x.grad = nil
  return worst
}

private func hookCounts(_ m: Module) -> [String: Int] {
  Dictionary(uniqueKeysWithValues: m.namedModules().map { ($0.0, $0.1.outputHooks.count) })
}

private func snapshot(_ m: Module) -> [String: [Float]] {
  Dictionary(uniqueKeysWithValues: m.stateDict().map { ($0.0, $0.1.scalars) })
}

private let labels8 = [0, 1, 2, 3, 0, 1, 2, 3]

// MARK: Criteria

@Suite("Distillation criteria")
struct DistillationCriterionTests {
  @Test func logitsKLMatchesTheDefinitionAndScalesByTSquared() throws {
    let s = try Tensor(rows: [[0.5, -1, 2], [0, 0.3, -0.2]])
    let t = try Tensor(rows: [[1, 0, -1], [0.2, 0.1, 0.4]])
    let temperature: Float = 2
    let c = try LogitsKLCriterion(temperature: temperature)
    var expected: Double = 0
    for r in 0..<2 {
      let sr = (0..<3).map { Double(s.scalars[r * 3 + $0] / temperature) }
      let tr = (0..<3).map { Double(t.scalars[r * 3 + $0] / temperature) }
      let ls = sr.map { $0 - Foundation.log(sr.map(Foundation.exp).reduce(0, +)) }
      let lt = tr.map { $0 - Foundation.log(tr.map(Foundation.exp).reduce(0, +)) }
      expected += zip(lt, ls).map { Foundation.exp($0.0) * ($0.0 - $0.1) }.reduce(0, +)
    }
    expected = expected / 2 * Double(temperature * temperature)
    let got = c.loss(student: s, teacher: t, extras: .init()).item
    #expect(isClose(got, Float(expected), atol: 1e-6, rtol: 1e-5))
  }

  /// ModelOpt 0.47's `LogitsDistillationLoss(temperature=2)` on these logits (its default
  /// `reduction="mean"`) gives 0.045239537954330444 (computed with torch 2.13 + ModelOpt 0.47);
  /// the per-sample (batchmean) value is 4 classes times that.
  @Test func logitsKLReductionMeanMatchesModelOpt() throws {
    let s = try Tensor(rows: [[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.5, -2.0], [0.0, 0.75, -1.25, 1.0]])
    let t = try Tensor(rows: [[1.0, -0.5, 1.5, 0.0], [0.25, 0.5, -1.0, -1.5], [-0.5, 1.25, -0.75, 0.5]])
    let modelOpt = try LogitsKLCriterion(temperature: 2, reduction: .mean)
    #expect(isClose(modelOpt.loss(student: s, teacher: t, extras: .init()).item, 0.045239537954330444, atol: 1e-7, rtol: 1e-5))
    let perSample = try LogitsKLCriterion(temperature: 2)
    #expect(perSample.reduction == .batchMean)
    #expect(isClose(perSample.loss(student: s, teacher: t, extras: .init()).item, 4 * 0.045239537954330444, atol: 1e-7, rtol: 1e-5))
    // JSON: the reduction round-trips; the default is not written.
    let json = try JSONValue(parsing: #"{"kind": "logits_kl", "temperature": 2, "reduction": "mean"}"#)
    #expect((try LogitsKLCriterion(json: json)).reduction == .mean)
    #expect(modelOpt.spec == json)
    #expect(perSample.spec["reduction"] == nil)
    #expect(throws: ConfigError.self) { try LogitsKLCriterion(json: JSONValue(parsing: #"{"reduction": "sum"}"#)) }
    // With a mask, mean divides by kept rows × classes.
    let masked = modelOpt.loss(student: s, teacher: t, extras: CriterionExtras(mask: [1, 0, 1])).item
    let keptOnly = try LogitsKLCriterion(temperature: 2).loss(
      student: Tensor(rows: [[0.5, -1.0, 2.0, 0.25], [0.0, 0.75, -1.25, 1.0]]),
      teacher: Tensor(rows: [[1.0, -0.5, 1.5, 0.0], [-0.5, 1.25, -0.75, 0.5]]), extras: .init()).item
    #expect(isClose(masked * 4, keptOnly, atol: 1e-7, rtol: 1e-5))
  }

  @Test func logitsKLGradientWithTokenMask() throws {
    // [batch 2, tokens 3, vocab 5]; tokens 1 and 5 are padding.
    let s = input([2, 3, 5], seed: 1)
    let t = input([2, 3, 5], seed: 2).detach()
    let mask: [Float] = [1, 0, 1, 1, 1, 0]
    let c = try LogitsKLCriterion(temperature: 2)
    let extras = CriterionExtras(mask: mask)
    #expect(gradientError(s) { c.loss(student: s, teacher: t, extras: extras) } <= 1)
    c.loss(student: s, teacher: t, extras: extras).backward()
    let g = try #require(s.grad).scalars
    // Masked rows get no gradient; kept rows do.
    #expect(g[5..<10].allSatisfy { $0 == 0 } && g[25..<30].allSatisfy { $0 == 0 })
    #expect(g[0..<5].contains { $0 != 0 })
    // The mask averages over the kept rows: same as the unmasked loss on those rows.
    let kept = [0, 2, 3, 4]
    let sk = s.detach().reshapedUnchecked([6, 5]).gather(kept), tk = t.reshapedUnchecked([6, 5]).gather(kept)
    #expect(isClose(
      c.loss(student: s, teacher: t, extras: extras).item, c.loss(student: sk, teacher: tk, extras: .init()).item,
      atol: 1e-6, rtol: 1e-5))
  }

  @Test func mseGradientPlainAndMasked() throws {
    let s = input([4, 6], seed: 3)
    let t = input([4, 6], seed: 4).detach()
    let c = MSECriterion()
    #expect(gradientError(s) { c.loss(student: s, teacher: t, extras: .init()) } <= 1)
    let extras = CriterionExtras(mask: [1, 1, 0, 1])
    #expect(gradientError(s) { c.loss(student: s, teacher: t, extras: extras) } <= 1)
    let plain = c.loss(student: s, teacher: t, extras: .init()).item
    #expect(isClose(plain, Loss.mse(s, t).item))
  }

  @Test func mseAdapterGradientForStudentAndAdapter() throws {
    let c = try MSECriterion(adapterFrom: 6, to: 3, seed: 7)
    let adapter = try #require(c.adapter)
    let s = input([4, 6], seed: 5)
    let t = input([4, 3], seed: 6).detach()
    #expect(c.shapeProblem(student: [4, 6], teacher: [4, 3]) == nil)
    #expect(c.shapeProblem(student: [4, 5], teacher: [4, 3]) != nil)
    #expect(c.shapeProblem(student: [4, 6], teacher: [4, 4]) != nil)
    #expect(c.learnableParameters().map(\.0) == ["adapter.weight", "adapter.bias"])
    #expect(gradientError(s) { c.loss(student: s, teacher: t, extras: .init()) } <= 1)
    #expect(gradientError(adapter.weight) { c.loss(student: s, teacher: t, extras: .init()) } <= 1)
    #expect(gradientError(try! #require(adapter.bias)) { c.loss(student: s, teacher: t, extras: .init()) } <= 1)
  }

  @Test func cosineGradientPlainAndMasked() throws {
    let s = input([2, 3, 4], seed: 8)
    let t = input([2, 3, 4], seed: 9).detach()
    let c = CosineCriterion()
    #expect(gradientError(s) { c.loss(student: s, teacher: t, extras: .init()) } <= 1)
    let extras = CriterionExtras(mask: [0, 1, 1, 1, 0, 1])
    #expect(gradientError(s) { c.loss(student: s, teacher: t, extras: extras) } <= 1)
    // Identical directions give zero loss.
    #expect(abs(c.loss(student: t * 3, teacher: t, extras: .init()).item) < 1e-6)
  }

  @Test func criteriaFromJSONAreStrict() throws {
    let kl = try KDBuiltins.makeCriterion(JSONValue(parsing: #"{"kind": "logits_kl", "temperature": 4}"#))
    #expect((kl as? LogitsKLCriterion)?.temperature == 4)
    #expect(kl.spec == (try JSONValue(parsing: #"{"kind": "logits_kl", "temperature": 4}"#)))
    let mse = try KDBuiltins.makeCriterion(JSONValue(parsing:
      #"{"kind": "mse", "adapter": {"student_features": 16, "teacher_features": 32}}"#))
    #expect((mse as? MSECriterion)?.adapter?.weight.shape == [32, 16])
    #expect(throws: ConfigError.unknownKey("logits_kl spec", path: "temprature", known: ["kind", "reduction", "temperature"])) {
      try LogitsKLCriterion(json: JSONValue(parsing: #"{"temprature": 2}"#))
    }
    #expect(throws: ConfigError.self) { try LogitsKLCriterion(json: JSONValue(parsing: #"{"temperature": 0}"#)) }
    #expect(throws: ConfigError.self) { try KDBuiltins.makeCriterion(JSONValue(parsing: #"{"kind": "nope"}"#)) }
    #expect(throws: ConfigError.self) { try MSECriterion(json: JSONValue(parsing: #"{"kind": "cosine"}"#)) }
  }
}

// MARK: Balancers

@Suite("Distillation balancers")
struct DistillationBalancerTests {
  @Test func staticBalancerWeighsKDAndStudentLosses() throws {
    let b = try StaticBalancer(kdWeights: [0.2, 0.3])
    let total = try b.balance(
      [("a", Tensor(scalar: 2)), ("b", Tensor(scalar: 3))], studentLoss: Tensor(scalar: 4))
    #expect(isClose(total.item, 0.2 * 2 + 0.3 * 3 + 0.5 * 4))
    let noStudent = try b.balance([("a", Tensor(scalar: 2)), ("b", Tensor(scalar: 3))], studentLoss: nil)
    #expect(isClose(noStudent.item, 0.2 * 2 + 0.3 * 3))
    #expect(isClose(b.studentWeight, 0.5))
  }

  @Test func staticBalancerRejectsBadWeights() throws {
    #expect(throws: ConfigError.self) { try StaticBalancer(kdWeights: [0.7, 0.5]) }
    #expect(throws: ConfigError.self) { try StaticBalancer(kdWeights: [-0.1]) }
    #expect(throws: ConfigError.self) { try StaticBalancer(kdWeights: []) }
    #expect(throws: ConfigError.self) { try StaticBalancer(kdWeight: 0.5).validate(kdLossCount: 2) }
    do {
      _ = try StaticBalancer(json: JSONValue(parsing: #"{"kind": "static", "kd_weights": [0.6, 0.6]}"#))
      Issue.record("weights above 1 were accepted")
    } catch let e as ConfigError {
      #expect(e.description.contains("kd_weights") && e.description.contains("> 1"))
    }
    // Exactly 1 is allowed (no student loss weight).
    #expect(try StaticBalancer(kdWeights: [0.5, 0.25, 0.25]).studentWeight == 0)
  }

  @Test func dynamicBalancerRatiosAreDetached() throws {
    // kd = Σ x², student = Σ w: d total / d x = kdScale · (s̄ / k̄) · 2x, d total / d w = 1.
    let x = try Tensor([0.5, -1, 2], shape: [3], requiresGrad: true)
    let w = try Tensor([1, 2, 0.5], shape: [3], requiresGrad: true)
    let kd = (x * x).sum(), s = w.sum()
    let b = try DynamicBalancer(kdScale: 0.5)
    let total = try b.balance([("kd", kd)], studentLoss: s)
    let sv: Float = 3.5, kv: Float = 5.25
    #expect(isClose(total.item, sv + 0.5 * sv))
    total.backward()
    let gx = try #require(x.grad).scalars
    for (g, xi) in zip(gx, x.scalars) { #expect(isClose(g, 0.5 * sv / kv * 2 * xi)) }
    #expect(try #require(w.grad).scalars.allSatisfy { isClose($0, 1) })
    #expect(throws: KDError.self) { try b.balance([("kd", kd)], studentLoss: nil) }
  }

  @Test func balancersFromJSON() throws {
    let b = try KDBuiltins.makeBalancer(JSONValue(parsing: #"{"kind": "static", "kd_weights": 0.25}"#))
    #expect((b as? StaticBalancer)?.kdWeights == [0.25])
    let d = try KDBuiltins.makeBalancer(JSONValue(parsing: #"{"kind": "dynamic", "kd_scale": 2}"#))
    #expect((d as? DynamicBalancer)?.kdScale == 2)
    #expect(throws: ConfigError.self) { try DynamicBalancer(json: JSONValue(parsing: #"{"scale": 2}"#)) }
  }
}

// MARK: Distillation model

@Suite("Distillation model and kd_loss mode")
struct DistillationModelTests {
  let x = input([8, 8], seed: 11).detach()

  @Test func teacherStaysBitIdenticalWhileTheStudentTrains() throws {
    let teacher = MLP([8, 16, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    let before = snapshot(teacher), studentBefore = snapshot(student)
    let dm = try DistillationModel(
      student: student,
      config: KDConfig(teacher: teacher, criterion: try LogitsKLCriterion(temperature: 2), balancer: try StaticBalancer(kdWeight: 0.7)))
    let params = dm.parameters()
    let teacherIDs = Set(teacher.parameters().map(ObjectIdentifier.init))
    #expect(!params.contains { teacherIDs.contains(ObjectIdentifier($0)) })
    #expect(Set(params.map(ObjectIdentifier.init)) == Set(student.parameters().map(ObjectIdentifier.init)))
    let opt = Adam(params, learningRate: 1e-2)
    var first: Float = 0, last: Float = 0
    for step in 0..<6 {
      opt.zeroGrad()
      let logits = dm(x)
      let loss = try dm.computeKDLoss(studentLoss: Loss.crossEntropy(logits, labels8))
      if step == 0 { first = loss.item }
      last = loss.item
      loss.backward()
      opt.step()
    }
    #expect(snapshot(teacher) == before)
    #expect(teacher.parameters().allSatisfy { $0.grad == nil && !$0.requiresGrad })
    #expect(!teacher.training)
    #expect(snapshot(student) != studentBefore)
    #expect(last < first)
  }

  @Test func optimizerSeesAdapterParameters() throws {
    let teacher = MLP([8, 32, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    let mse = try MSECriterion(adapterFrom: 16, to: 32, seed: 3)
    let config = KDConfig(
      teacher: teacher,
      criteria: [.logits: try LogitsKLCriterion(temperature: 2), KDLayerPair("fc1"): mse],
      balancer: try StaticBalancer(kdWeights: [0.4, 0.3]))
    let dm = try DistillationModel(student: student, config: config)
    let names = dm.namedParameters().map(\.0)
    #expect(names.contains("kd_criteria.1.adapter.weight") && names.contains("kd_criteria.1.adapter.bias"))
    let adapterWeight = try #require(mse.adapter).weight
    #expect(dm.parameters().contains { $0 === adapterWeight })
    let before = adapterWeight.scalars
    let opt = Adam(dm.parameters(), learningRate: 1e-2)
    let logits = dm(x)
    let loss = try dm.computeKDLoss(studentLoss: Loss.crossEntropy(logits, labels8))
    loss.backward()
    #expect(adapterWeight.grad != nil)
    opt.step()
    #expect(adapterWeight.scalars != before)
  }

  @Test func capturesIntermediateLayersByPath() throws {
    let teacher = MLP([8, 16, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    let config = KDConfig(
      teacher: teacher,
      criteria: [.logits: try LogitsKLCriterion(), KDLayerPair("fc1", "fc1"): MSECriterion(), KDLayerPair("fc2"): CosineCriterion()],
      balancer: try StaticBalancer(kdWeights: [0.3, 0.3, 0.2]))
    let dm = try DistillationModel(student: student, config: config)
    let y = dm(x)
    #expect(y.scalars == Tensor.withoutGrad { student.forward(x) }.scalars)
    let losses = try dm.computeKDLosses(studentLoss: Tensor(scalar: 1))
    #expect(losses.map(\.0) == ["logits_kl_0", "mse_1", "cosine_2", "student_loss"])
    let (sFc1, tFc1) = Tensor.withoutGrad { (student.layers[0].forward(x), teacher.layers[0].forward(x)) }
    #expect(isClose(losses[1].1.item, Loss.mse(sFc1, tFc1).item))
    let (sOut, tOut) = Tensor.withoutGrad { (student.forward(x), teacher.forward(x)) }
    #expect(isClose(losses[0].1.item, Loss.klDivergence(student: sOut, teacher: tOut).item))
    #expect(isClose(losses[2].1.item, Loss.cosine(sOut, tOut).item))
    // The balanced total agrees with the parts.
    let (total, parts) = try dm.computeKDLossWithParts(studentLoss: Tensor(scalar: 1))
    let expected = 0.3 * parts[0].1.item + 0.3 * parts[1].1.item + 0.2 * parts[2].1.item + 0.2 * 1
    #expect(isClose(total.item, expected))
  }

  @Test func unknownLayerPathListsThePaths() throws {
    let teacher = MLP([8, 16, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    for (pair, key) in [(KDLayerPair("fc9", "fc1"), "criteria[0].student_layer"), (KDLayerPair("fc1", "layer1"), "criteria[0].teacher_layer")] {
      do {
        _ = try DistillationModel(student: student, config: KDConfig(teacher: teacher, criteria: [pair: MSECriterion()]))
        Issue.record("unknown path \(pair) accepted")
      } catch let e as ConfigError {
        #expect(e.description.contains(key))
        #expect(e.description.contains("fc1") && e.description.contains("fc2"))
      }
    }
    #expect(hookCounts(student).values.allSatisfy { $0 == 0 })
  }

  @Test func mismatchedShapesAreReportedBeforeTraining() throws {
    let teacher = MLP([8, 32, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    let config = KDConfig(teacher: teacher, criteria: [KDLayerPair("fc1"): MSECriterion()])
    // Up front, with one no-grad forward; no hooks are left behind.
    #expect(throws: KDError.self) { try config.check(student: student, sampleInput: x) }
    #expect(hookCounts(student).values.allSatisfy { $0 == 0 } && hookCounts(teacher).values.allSatisfy { $0 == 0 })
    // At the first computeKDLoss otherwise.
    let dm = try DistillationModel(student: student, config: config)
    _ = dm(x)
    do {
      _ = try dm.computeKDLoss()
      Issue.record("mismatched shapes accepted")
    } catch let e as KDError {
      guard case .shapeMismatch(_, "fc1", "fc1", let detail) = e else { Issue.record("\(e)"); return }
      #expect(detail.contains("[8, 16]") && detail.contains("[8, 32]"))
    }
    // A fitting adapter passes the same check.
    let adapted = KDConfig(teacher: teacher, criteria: [KDLayerPair("fc1"): try MSECriterion(adapterFrom: 16, to: 32)])
    try adapted.check(student: student, sampleInput: x)
  }

  @Test func otherBadConfigsThrowBeforeTraining() throws {
    let teacher = MLP([8, 16, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    let noTeacher = KDConfig(teacher: nil, criterion: MSECriterion())
    #expect(throws: ConfigError.self) { try noTeacher.validate(student: student) }
    #expect(throws: ConfigError.self) { try KDConfig(teacher: student, criterion: MSECriterion()).validate(student: student) }
    let twoNoBalancer = KDConfig(teacher: teacher, criteria: [.logits: MSECriterion(), KDLayerPair("fc1"): MSECriterion()])
    #expect(throws: ConfigError.self) { try twoNoBalancer.validate(student: student) }
    let wrongCount = KDConfig(
      teacher: teacher, criteria: [.logits: MSECriterion(), KDLayerPair("fc1"): MSECriterion()],
      balancer: try StaticBalancer(kdWeight: 0.5))
    #expect(throws: ConfigError.self) { try wrongCount.validate(student: student) }
    // Runtime misuse is a typed error too.
    let dm = try DistillationModel(student: student, config: KDConfig(teacher: teacher, criterion: MSECriterion()))
    #expect(throws: KDError.noForwardPass) { try dm.computeKDLoss() }
    _ = dm(x)
    #expect(throws: KDError.self) { try dm.computeKDLoss(studentLoss: Tensor(scalar: 1)) }  // no balancer
    #expect(throws: KDError.self) { try dm.computeKDLoss(extras: CriterionExtras(mask: [1, 0])) }
    #expect(throws: KDError.self) { try student.computeKDLoss() }
  }

  @Test func stateDictIsTheStudentsByDefault() throws {
    let teacher = MLP([8, 16, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    let dm = try DistillationModel(student: student, config: KDConfig(teacher: teacher, criterion: try LogitsKLCriterion()))
    #expect(dm.stateDict().map(\.0) == student.stateDict().map(\.0))
    #expect(zip(dm.stateDict(), student.stateDict()).allSatisfy { $0.1 === $1.1 })
    // A checkpoint of the distillation model loads strictly into a fresh student.
    let fresh = MLP([8, 16, 4], seed: 99)
    try fresh.loadStateDict(Dictionary(uniqueKeysWithValues: dm.stateDict()))
    #expect(snapshot(fresh) == snapshot(student))

    let withTeacher = try DistillationModel(
      student: MLP([8, 16, 4], seed: 3),
      config: KDConfig(teacher: MLP([8, 16, 4], seed: 4), criterion: try LogitsKLCriterion(), excludeTeacherFromState: false))
    let keys = withTeacher.stateDict().map(\.0)
    #expect(keys.contains("fc1.weight") && keys.contains("teacher.fc1.weight") && keys.contains("teacher.fc2.bias"))
    #expect(withTeacher.trainableParameters().count == 4)
  }

  @Test func exportRemovesHooksAndReturnsTheStudent() throws {
    let teacher = MLP([8, 16, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    let studentHooks = hookCounts(student), teacherHooks = hookCounts(teacher)
    let config = KDConfig(
      teacher: teacher, criteria: [.logits: try LogitsKLCriterion(), KDLayerPair("fc1"): MSECriterion()],
      balancer: try StaticBalancer(kdWeights: [0.5, 0.5]))
    let (converted, metadata) = try KDLossMode.convert(student, config: config, context: ModeContext())
    #expect(metadata == .object(["loss_names": .array([.string("logits_kl_0"), .string("mse_1")])]))
    #expect(hookCounts(student) != studentHooks)
    _ = converted(x)
    let (exported, _) = try ExportStudentMode.convert(converted, config: .init(), context: ModeContext())
    #expect(exported === student)
    #expect(hookCounts(student) == studentHooks && hookCounts(teacher) == teacherHooks)
    #expect(throws: KDError.exported) { try converted.computeKDLoss() }
    #expect(throws: KDError.self) { try ExportStudentMode.validate(.init(), for: student) }
  }

  @Test func modeHistoryIsCarriedOver() throws {
    let teacher = MLP([8, 16, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    let record = ModeRecord(name: "quantize", config: .object([:]), metadata: .object([:]))
    student.modeHistory = [record]
    let (dm, _) = try KDLossMode.convert(student, config: KDConfig(teacher: teacher, criterion: MSECriterion()), context: ModeContext())
    #expect(dm.modeHistory == [record])
    let kdRecord = ModeRecord(name: "kd_loss", config: try KDLossMode.encode(KDConfig(teacher: teacher, criterion: MSECriterion())), metadata: .null)
    dm.modeHistory.append(kdRecord)
    let (exported, _) = try ExportStudentMode.convert(dm, config: .init(), context: ModeContext())
    #expect(exported.modeHistory == [record, kdRecord])
    #expect(!KDLossMode.savesState && !ExportStudentMode.savesState && ExportStudentMode.isExport)
    #expect(KDLossMode.exportMode == "export_student")
  }

  @Test func configEncodesWithoutTheTeacherAndDecodeExplains() throws {
    let teacher = MLP([8, 32, 4], seed: 1)
    let config = KDConfig(
      teacher: teacher,
      criteria: [.logits: try LogitsKLCriterion(temperature: 2), KDLayerPair("fc1"): try MSECriterion(adapterFrom: 16, to: 32)],
      balancer: try StaticBalancer(kdWeights: [0.5, 0.25]))
    let json = try KDLossMode.encode(config)
    let expected = try JSONValue(parsing: """
      {"criteria": [
        {"student_layer": "", "teacher_layer": "", "criterion": {"kind": "logits_kl", "temperature": 2}},
        {"student_layer": "fc1", "teacher_layer": "fc1",
         "criterion": {"kind": "mse", "adapter": {"student_features": 16, "teacher_features": 32, "seed": 0}}}],
       "balancer": {"kind": "static", "kd_weights": [0.5, 0.25]},
       "exclude_teacher_from_state": true, "teacher_type": "MLP"}
      """)
    #expect(json == expected)
    do {
      _ = try KDLossMode.decode(json)
      Issue.record("kd_loss decoded without a teacher")
    } catch let e as ConfigError {
      #expect(e.description.contains("live teacher") && e.description.contains("KDConfig(teacher:"))
    }
    // JSON criteria plus a live teacher rebuild the same config.
    let rebuilt = try KDConfig(json: json, teacher: teacher)
    #expect(rebuilt.json == json)
    // Unknown keys name their full key path.
    let typo = try JSONValue(parsing: #"{"criteria": [{"criterion": {"kind": "logits_kl", "temprature": 2}}]}"#)
    #expect(throws: ConfigError.unknownKey("kd_loss config", path: "criteria[0].criterion.temprature", known: ["kind", "reduction", "temperature"])) {
      try KDConfig(json: typo, teacher: teacher)
    }
    #expect(throws: ConfigError.self) {
      try KDConfig(json: JSONValue(parsing: #"{"criteria": [], "balancer": null, "teacher_model": 1}"#), teacher: teacher)
    }
  }
}

// MARK: Composition with quantize

@Suite("Distillation with quantization")
struct DistillationQuantizeTests {
  let x = input([8, 8], seed: 12).detach()

  @Test func quantizeThenKDKeepsQuantizersAndTrains() throws {
    let teacher = MLP([8, 16, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    let quantConfig = QuantizeConfig(preset: .int8WeightOnly)
    let (quantized, _) = try QuantizeMode.convert(student, config: quantConfig, context: ModeContext())
    let quantizerPaths = quantized.namedQuantizers().map(\.0)
    #expect(quantizerPaths == ["fc1.weight_quantizer", "fc2.weight_quantizer"])
    let hooks = hookCounts(quantized)
    let config = KDConfig(
      teacher: teacher, criterion: try LogitsKLCriterion(temperature: 2), balancer: try StaticBalancer(kdWeight: 0.5))
    let (dm, _) = try KDLossMode.convert(quantized, config: config, context: ModeContext())
    #expect(dm.namedQuantizers().map(\.0) == quantizerPaths)
    #expect(dm.stateDict().map(\.0) == quantized.stateDict().map(\.0))
    let teacherBefore = snapshot(teacher)
    let opt = Adam(dm.parameters(), learningRate: 1e-2)
    for _ in 0..<3 {
      opt.zeroGrad()
      let loss = try dm.computeKDLoss(studentLoss: Loss.crossEntropy(dm(x), labels8))
      loss.backward()
      opt.step()
    }
    #expect(snapshot(teacher) == teacherBefore)
    let (exported, _) = try ExportStudentMode.convert(dm, config: .init(), context: ModeContext())
    #expect(exported === quantized)
    #expect(exported.namedQuantizers().map(\.0) == quantizerPaths)
    #expect(zip(exported.namedQuantizers(), quantized.namedQuantizers()).allSatisfy { $0.1 === $1.1 })
    #expect(hookCounts(exported) == hooks)
  }

  @Test func distilledCheckpointRestoresWithoutTheTeacherAndDistillsAgain() throws {
    let teacher = MLP([8, 16, 4], seed: 1), student = MLP([8, 16, 4], seed: 2)
    let quantConfig = QuantizeConfig(preset: .int8WeightOnly)
    let (quantized, metadata) = try QuantizeMode.convert(student, config: quantConfig, context: ModeContext())
    let (dm, _) = try KDLossMode.convert(
      quantized, config: KDConfig(teacher: teacher, criterion: try LogitsKLCriterion()), context: ModeContext())
    let opt = Adam(dm.parameters(), learningRate: 1e-2)
    _ = dm(x)
    try dm.computeKDLoss().backward()
    opt.step()
    // "Save" the distillation model: its state dict is the quantized student's.
    let saved = Dictionary(uniqueKeysWithValues: dm.stateDict().map { ($0.0, $0.1.copy()) })
    // Restore onto a fresh model: replay quantize, load the state, no teacher involved.
    let fresh = try QuantizeMode.restore(MLP([8, 16, 4], seed: 50), config: quantConfig, metadata: metadata, context: ModeContext())
    try fresh.loadStateDict(saved)
    let expected = Tensor.withoutGrad { quantized(x) }.scalars
    #expect(Tensor.withoutGrad { fresh(x) }.scalars == expected)
    // Then distil again from Swift.
    let (again, _) = try KDLossMode.convert(
      fresh, config: KDConfig(teacher: teacher, criterion: try LogitsKLCriterion()), context: ModeContext())
    #expect(Tensor.withoutGrad { again(x) }.scalars == expected)
    #expect(try again.computeKDLoss().item.isFinite)
  }

  @Test func bareLayerStudentKeepsRootQuantizerSlots() throws {
    let teacher = Linear(8, 4, seed: 1), student = Linear(8, 4, seed: 2)
    let (quantized, _) = try QuantizeMode.convert(student, config: QuantizeConfig(preset: .int8WeightOnly), context: ModeContext())
    let (dm, _) = try KDLossMode.convert(quantized, config: KDConfig(teacher: teacher, criterion: MSECriterion()), context: ModeContext())
    #expect(dm.namedQuantizers().map(\.0) == ["weight_quantizer"])
    #expect(dm.stateDict().map(\.0) == quantized.stateDict().map(\.0))
    #expect(dm.stateDict().map(\.0).contains("weight_quantizer._amax"))
  }
}
