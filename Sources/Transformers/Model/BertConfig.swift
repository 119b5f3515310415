import Foundation

/// The architecture of a BERT encoder, HuggingFace's `BertConfig` (`config.json`).
///
/// Only what this implementation runs is accepted: `model_type` `bert`, `hidden_act` `gelu`
/// (erf), absolute position embeddings. Everything read from a file is validated: sizes
/// positive and bounded, `hidden_size` divisible by the head count, `layer_norm_eps` positive,
/// dropout probabilities in `[0, 1)`.
public struct BertConfig: Sendable, Hashable {
  /// Token vocabulary size (30,522 for uncased BERT).
  public var vocabSize: Int
  /// Width of the hidden states.
  public var hiddenSize: Int
  /// Number of encoder layers.
  public var numHiddenLayers: Int
  /// Attention heads per layer.
  public var numAttentionHeads: Int
  /// Width of the feed-forward layer.
  public var intermediateSize: Int
  /// Longest sequence the position table covers.
  public var maxPositionEmbeddings: Int
  /// Number of token types (segments).
  public var typeVocabSize: Int
  /// LayerNorm epsilon.
  public var layerNormEps: Float
  /// Dropout after the embeddings, the attention output and the feed-forward output.
  public var hiddenDropoutProb: Float
  /// Dropout on the attention probabilities.
  public var attentionProbsDropoutProb: Float

  /// Creates a configuration.
  ///
  /// - Throws: ``TransformersError/invalidConfig(file:key:reason:)`` for out-of-range values.
  public init(
    vocabSize: Int = 30522, hiddenSize: Int = 384, numHiddenLayers: Int = 6, numAttentionHeads: Int = 12,
    intermediateSize: Int = 1536, maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2,
    layerNormEps: Float = 1e-12, hiddenDropoutProb: Float = 0.1, attentionProbsDropoutProb: Float = 0.1
  ) throws {
    self.vocabSize = vocabSize
    self.hiddenSize = hiddenSize
    self.numHiddenLayers = numHiddenLayers
    self.numAttentionHeads = numAttentionHeads
    self.intermediateSize = intermediateSize
    self.maxPositionEmbeddings = maxPositionEmbeddings
    self.typeVocabSize = typeVocabSize
    self.layerNormEps = layerNormEps
    self.hiddenDropoutProb = hiddenDropoutProb
    self.attentionProbsDropoutProb = attentionProbsDropoutProb
    try validate(file: "BertConfig")
  }

  /// all-MiniLM-L6-v2's architecture: 6 layers, hidden 384, 12 heads, FFN 1536.
  public static var miniLML6: BertConfig {
    // The defaults are MiniLM-L6's and valid.
    try! BertConfig()
  }

  /// The width of one attention head.
  public var headSize: Int { hiddenSize / numAttentionHeads }

  /// Reads and validates `config.json`.
  ///
  /// - Throws: ``TransformersError`` for a missing or malformed file, a missing or invalid
  ///   key, or an unsupported architecture.
  public init(contentsOf url: URL) throws {
    let json = try JSONFile(url)
    let file = url.lastPathComponent
    func required(_ key: String) throws -> Int {
      guard let v = try json.int(key) else {
        throw TransformersError.invalidConfig(file: file, key: key, reason: "missing; a BERT config.json sets it")
      }
      return v
    }
    if let type = try json.string("model_type"), type != "bert" {
      throw TransformersError.unsupported("\(file): model_type '\(type)'; only 'bert' encoders are implemented")
    }
    if let act = try json.string("hidden_act"), act != "gelu" {
      throw TransformersError.unsupported("\(file): hidden_act '\(act)'; only 'gelu' (exact, erf) is implemented")
    }
    if let pos = try json.string("position_embedding_type"), pos != "absolute" {
      throw TransformersError.unsupported("\(file): position_embedding_type '\(pos)'; only 'absolute' is implemented")
    }
    vocabSize = try required("vocab_size")
    hiddenSize = try required("hidden_size")
    numHiddenLayers = try required("num_hidden_layers")
    numAttentionHeads = try required("num_attention_heads")
    intermediateSize = try required("intermediate_size")
    maxPositionEmbeddings = try json.int("max_position_embeddings") ?? 512
    typeVocabSize = try json.int("type_vocab_size") ?? 2
    layerNormEps = Float(try json.double("layer_norm_eps") ?? 1e-12)
    hiddenDropoutProb = Float(try json.double("hidden_dropout_prob") ?? 0.1)
    attentionProbsDropoutProb = Float(try json.double("attention_probs_dropout_prob") ?? 0.1)
    try validate(file: file)
  }

  func validate(file: String) throws {
    func check(_ ok: Bool, _ key: String, _ reason: String) throws {
      if !ok { throw TransformersError.invalidConfig(file: file, key: key, reason: reason) }
    }
    let limit = 1 << 20
    for (key, v) in [
      ("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers),
      ("num_attention_heads", numAttentionHeads), ("intermediate_size", intermediateSize),
      ("max_position_embeddings", maxPositionEmbeddings), ("type_vocab_size", typeVocabSize),
    ] {
      try check(v > 0 && v <= limit, key, "\(v) is outside 1…\(limit)")
    }
    try check(numHiddenLayers <= 1024, "num_hidden_layers", "\(numHiddenLayers) layers is not a plausible BERT")
    try check(hiddenSize % numAttentionHeads == 0, "num_attention_heads",
              "hidden_size \(hiddenSize) is not divisible by \(numAttentionHeads) heads")
    try check(vocabSize * hiddenSize <= 1 << 31, "vocab_size", "a \(vocabSize) × \(hiddenSize) embedding table is too large")
    try check(layerNormEps > 0 && layerNormEps.isFinite, "layer_norm_eps", "\(layerNormEps) must be a positive number")
    try check((0..<1).contains(hiddenDropoutProb), "hidden_dropout_prob", "\(hiddenDropoutProb) is outside [0, 1)")
    try check((0..<1).contains(attentionProbsDropoutProb), "attention_probs_dropout_prob",
              "\(attentionProbsDropoutProb) is outside [0, 1)")
  }
}
