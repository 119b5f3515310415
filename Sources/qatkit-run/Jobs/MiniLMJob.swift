import Foundation
import QATKit
import QATPlugins
import QATRegistry
import QATTransformers

#if canImport(Glibc)
  import Glibc
#endif

/// `qatkit-run minilm`: all-MiniLM-L6-v2 quantized with ModelOpt's configs (PTQ), then
/// recovered by distillation from the FP32 model (QAD) with frozen and with learned (LSQ)
/// ranges, on the public sentence sets: calibration on the first 256 corpus sentences
/// (batches of 32, in order), distillation on the whole corpus, evaluation on `eval.txt`
/// against the FP32 embeddings (mean / min cosine, nearest-neighbour agreement).
struct MiniLMJob {
  /// The two QAD recipes.
  enum Ranges: String, CaseIterable {
    /// ModelOpt's (the reference script's): ranges max-calibrated (`--calibrator`) and frozen,
    /// the student trained in training mode with the model's dropout (`--no-dropout` turns it off).
    case frozen
    /// QATKit's: integer quantizers get LSQ ranges learned during QAD, activation ranges
    /// initialized by `--lsq-calibrator` (percentile 99.99 by default, which clips the rare
    /// outliers that max keeps), weight ranges by max; other formats keep their calibrated
    /// ranges; no dropout.
    case lsq
  }

  let modelDirectory: URL
  let dataDirectory: URL?
  let recipes: [BertQuantization.Recipe]
  /// Calibration algorithms to run each recipe with (`nil`: plain calibration).
  let algorithms: [CalibrationAlgorithmSpec?]
  let ranges: [Ranges]
  let epochs: Int
  let batchSize: Int
  let learningRate: Float
  /// Learning rate of learned activation (input) ranges, relative to each range's size.
  let rangeLearningRate: Float
  /// Learning rate of learned weight ranges, relative to each range's size.
  let weightRangeLearningRate: Float
  let calibrator: String
  let lsqCalibrator: String
  let dropout: Bool
  let hiddenWeight: Float
  let seed: UInt64
  let out: URL
  let golden: URL?

  struct Row: Codable {
    var recipe: String
    var stage: String
    var ranges: String
    var meanCosine: Double
    var minCosine: Double
    var nnAgreement: Double
    var seconds: Double
  }

  func run() throws {
    let registry = InTreePlugins.registry
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let (teacher, tokenizer) = try MiniLMFiles.load(modelDirectory)
    let corpusLines = try TextLines.read(dataFile("corpus_train.txt"), skipEmpty: true)
    let evalLines = try TextLines.read(dataFile("eval.txt"), skipEmpty: true)
    guard corpusLines.count >= 2, evalLines.count >= 2 else {
      throw CLIError.input("the corpus and the evaluation file need at least 2 sentences each")
    }
    let calibration = Array(corpusLines.prefix(256))
    let corpus = corpusLines.map(tokenizer.encode)
    Progress.note("all-MiniLM-L6-v2 from \(modelDirectory.path): \(corpusLines.count) corpus sentences, \(evalLines.count) eval sentences")

    let (reference, tFP32) = timed { teacher.embed(evalLines, tokenizer: tokenizer) }
    Progress.note(String(format: "FP32 embeddings of the eval set: %.2f s", tFP32))
    if let golden { try checkGolden(golden, reference: reference, texts: evalLines, tokenizer: tokenizer) }

    var rows: [Row] = []
    var table = Table(header: ["config", "stage", "ranges", "mean cos", "min cos", "NN agree", "ModelOpt mean/min/NN", "time"])
    func add(_ label: String, _ stage: String, _ ranges: String, _ cmp: EmbeddingComparison,
             _ seconds: Double, _ ref: MiniLMReference.Row?) {
      rows.append(Row(recipe: label, stage: stage, ranges: ranges, meanCosine: cmp.meanCosine,
                      minCosine: cmp.minCosine, nnAgreement: cmp.nearestNeighbourAgreement, seconds: seconds))
      let refText = ref.map { String(format: "%.4g / %.4g / %.3f", $0.mean, $0.min, $0.nn) + ($0.seconds.map { String(format: " (%.0f s)", $0) } ?? "") } ?? "-"
      table.add([label, stage, ranges, String(format: "%.4f", cmp.meanCosine), String(format: "%.4f", cmp.minCosine),
                 String(format: "%.3f", cmp.nearestNeighbourAgreement), refText, secs(seconds)])
      Progress.note("  \(label) \(stage) (\(ranges)): \(cmp), \(secs(seconds))")
      try? writeResults(rows)
    }

    func configure(_ variant: Ranges) -> (inout BertConfig) -> Void {
      let off = variant == .lsq || !dropout
      return { c in
        if off {
          c.hiddenDropoutProb = 0
          c.attentionProbsDropoutProb = 0
        }
      }
    }
    let distillation = MiniLMDistillation(
      teacher: teacher, corpus: corpus, epochs: epochs, batchSize: batchSize, learningRate: learningRate,
      rangeLearningRate: rangeLearningRate,
      weightRangeLearningRate: weightRangeLearningRate, seed: seed, hiddenWeight: hiddenWeight, registry: registry)
    let calibrationBatches = stride(from: 0, to: calibration.count, by: 32).map {
      tokenizer.batch(Array(calibration[$0..<min(calibration.count, $0 + 32)])).packed
    }
    let forwardLoop: (Module) throws -> Void = { m in for b in calibrationBatches { _ = m(b) } }
    func evaluate(_ m: Module) throws -> EmbeddingComparison {
      guard let bert = (m as? DistillationModel)?.student as? BertModel ?? m as? BertModel else {
        throw CLIError.failure("not a BERT model")
      }
      return try EmbeddingComparison(bert.embed(evalLines, tokenizer: tokenizer), reference: reference)
    }

    // A method given more than once (say two SmoothQuant α) gets `.2`, `.3`, … after its name, so
    // every run has its own checkpoints, results entry and table row.
    var seen: [String: Int] = [:]
    let suffixes: [String] = algorithms.map { algorithm in
      guard let method = algorithm?.method else { return "" }
      seen[method, default: 0] += 1
      return seen[method]! == 1 ? "+\(method)" : "+\(method).\(seen[method]!)"
    }
    for recipe in recipes {
     for (algorithm, suffix) in zip(algorithms, suffixes) {
      let label = recipe.rawValue + suffix
      Progress.note("\(label) (\(recipe.modelOptName)\(algorithm.map { ", algorithm \($0)" } ?? ""))")
      for variant in ranges {
        try Interrupt.check()
        let tag = "\(label)-\(variant.rawValue)"
        let learned = variant == .lsq
        // Percentile initialization for learned integer activation ranges; FP8 / FP4 ranges
        // (frozen in both recipes) keep the max calibrator: their exponents cover the outliers.
        let actCalibrator = learned && recipe.hasIntegerActivations ? lsqCalibrator : calibrator
        // With an algorithm, LSQ starts from its result: the algorithm works on the built-in
        // quantizers, then `lsq_ranges` turns their ranges into learned ones.
        let config = BertQuantization.config(
          recipe, calibrator: calibrator, activationCalibrator: actCalibrator, learnedRanges: learned && algorithm == nil
        ).with(algorithm: algorithm)
        var modes: [ModeStep] = [.quantize(config)]
        if learned, algorithm != nil, recipe.hasIntegerQuantizers { modes.append(.named("lsq_ranges")) }
        var rangesText = "\(calibrator), frozen"
        if learned && recipe.hasIntegerQuantizers {
          rangesText = recipe.hasIntegerActivations ? "W \(calibrator), A \(actCalibrator) → LSQ"
            : recipe.quantizesActivations ? "W \(calibrator) → LSQ, A \(calibrator) frozen" : "\(calibrator) → LSQ"
        }
        let configure = configure(variant)
        // PTQ (in its own scope: the model is freed before QAD starts).
        let ptqURL = out.appendingPathComponent("\(tag)-ptq.safetensors")
        do {
          let (student, _) = try MiniLMFiles.load(modelDirectory, configure: configure)
          let (_, tPTQ) = try timed {
            try convert(student, modes: modes, registry: registry, forwardLoop: forwardLoop)
          }
          let ptq = try evaluate(student)
          add(label, "PTQ", rangesText, ptq, tPTQ, !learned && calibrator == "max" ? MiniLMReference.ptq(recipe, algorithm: algorithm?.method) : nil)
          try save(student, to: ptqURL, registry: registry)
          if algorithm != nil {
            // The algorithm's results are weights and quantizer state: the checkpoint restores
            // bit for bit without running it again.
            let probeTexts = Array(evalLines.prefix(64))
            try checkRestore(ptqURL, expected: student.embed(probeTexts, tokenizer: tokenizer).scalars, texts: probeTexts, tokenizer: tokenizer, registry: registry)
          }
        }
        guard epochs > 0 else { continue }
        // QAD from the restored PTQ checkpoint.
        let qadURL = out.appendingPathComponent("\(tag)-qad.safetensors")
        let probeTexts = Array(evalLines.prefix(64))
        let trainedProbe: [Float]
        do {
          let (qadStudent, _) = try MiniLMFiles.load(modelDirectory, configure: configure)
          try restore(qadStudent, from: ptqURL, registry: registry)
          let (dm, tQAD) = try distillation.run(qadStudent, label: "\(label) QAD (\(variant.rawValue))")
          let qad = try evaluate(dm)
          add(label, "QAD", rangesText, qad, tQAD, !learned && calibrator == "max" && dropout && algorithm == nil ? MiniLMReference.qadFrozen(recipe) : nil)
          try save(dm, to: qadURL, registry: registry)
          trainedProbe = qadStudent.embed(probeTexts, tokenizer: tokenizer).scalars
        }
        try checkRestore(qadURL, expected: trainedProbe, texts: probeTexts, tokenizer: tokenizer, registry: registry)
      }
     }
    }
    try writeResults(rows)
    Console.result(table.render())
    Console.result("\nModelOpt column: shared/reference/ANCHORS.md (same sets, max calibration, frozen ranges).")
    Console.result("checkpoints and results.json in \(out.path); QAD time is the training loop (\(epochs) epochs, batch \(batchSize)).")
    Console.result(String(format: "peak resident memory: %.0f MB", peakMemoryMB()))
  }

  private func dataFile(_ name: String) throws -> URL {
    if let dataDirectory { return dataDirectory.appendingPathComponent(name) }
    guard let url = Bundle.module.url(forResource: "minilm/\(name)", withExtension: nil)
      ?? Bundle.module.resourceURL?.appendingPathComponent("minilm/\(name)")
    else { throw CLIError.failure("the bundled MiniLM data (\(name)) is missing from the build") }
    return url
  }

  /// Restores `url` onto a freshly loaded model and checks that its embeddings of `texts`
  /// equal the trained model's (`expected`) bit for bit.
  private func checkRestore(_ url: URL, expected: [Float], texts: [String], tokenizer: BertTokenizer, registry: Registry) throws {
    let (fresh, _) = try MiniLMFiles.load(modelDirectory)
    try restore(fresh, from: url, registry: registry)
    guard fresh.embed(texts, tokenizer: tokenizer).scalars == expected else {
      throw CLIError.failure("\(url.lastPathComponent) does not restore bit-identically")
    }
    Progress.note("  \(url.lastPathComponent) restores onto a freshly loaded model bit-identically")
  }

  /// Compares the FP32 model with sentence-transformers' embeddings and ids (`eval_golden.json`).
  private func checkGolden(_ url: URL, reference: Tensor, texts: [String], tokenizer: BertTokenizer) throws {
    struct Item: Decodable { let text: String; let input_ids: [Int]; let embedding: [Float] }
    struct File: Decodable { let items: [Item] }
    let file: File
    do { file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url)) } catch {
      throw CLIError.input("cannot read \(url.path) as eval_golden.json: \(error)")
    }
    guard file.items.map(\.text) == texts else {
      throw CLIError.input("\(url.path) does not hold the evaluation sentences in order")
    }
    let idsEqual = zip(file.items, texts).filter { tokenizer.encode($1).ids == $0.input_ids }.count
    let golden = try Tensor(file.items.flatMap(\.embedding), shape: [texts.count, reference.shape[1]])
    let cmp = try EmbeddingComparison(reference, reference: golden)
    Console.result(String(format: "FP32 vs sentence-transformers (%@): token ids equal for %d/%d sentences; cosine mean %.8f, worst %.8f (sentence %d); max |difference| %.3g; NN agreement %.3f",
                 url.lastPathComponent, idsEqual, texts.count, cmp.meanCosine, cmp.minCosine, cmp.worstIndex,
                 Double(cmp.maxAbsDifference), cmp.nearestNeighbourAgreement))
  }

  private func writeResults(_ rows: [Row]) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try OutputFiles.write(try enc.encode(rows), to: out.appendingPathComponent("results.json"))
  }

  private func peakMemoryMB() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    return Double(usage.ru_maxrss) / 1024
  }
}
