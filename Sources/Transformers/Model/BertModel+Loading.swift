import Foundation
import QATKit

extension BertModel {
  /// Loads a HuggingFace / sentence-transformers model directory: `config.json` (validated,
  /// see ``BertConfig/init(contentsOf:)``), `model.safetensors` (strictly by PyTorch name) and,
  /// when present, `1_Pooling/config.json` (must be mean pooling) and `modules.json` (a
  /// `Normalize` module selects L2 normalization; without one the output is the mean-pooled
  /// embedding).
  ///
  /// The model is returned in evaluation mode (dropout off), as HuggingFace's `from_pretrained`.
  ///
  /// - Parameters:
  ///   - directory: The model directory.
  ///   - configure: Changes the configuration read from `config.json` before the model is
  ///     built, for settings that do not change the weights (dropout probabilities).
  /// - Throws: ``TransformersError`` naming the file and problem (missing files, invalid
  ///   config keys, unsupported pooling, tensors the model lacks or misses, wrong shapes).
  public static func load(directory: URL, configure: ((inout BertConfig) -> Void)? = nil) throws -> BertModel {
    var config = try BertConfig(contentsOf: directory.appendingPathComponent("config.json"))
    if let configure {
      configure(&config)
      try config.validate(file: "config.json (as changed by configure)")
    }
    let weights = directory.appendingPathComponent("model.safetensors")
    guard FileManager.default.fileExists(atPath: weights.path) else {
      throw TransformersError.missingFile(
        path: weights.path, hint: "the directory needs model.safetensors (PyTorch .bin files are not read)")
    }
    let file: SafeTensorsFile
    do { file = try SafeTensorsFile(contentsOf: weights) } catch {
      throw TransformersError.malformedFile(path: weights.path, reason: "\(error)")
    }
    let model = BertModel(config: config, pooler: file.contains("pooler.dense.weight"), initialization: .zeros)
    try model.loadWeights(from: file, path: weights.path)
    let pooling = directory.appendingPathComponent("1_Pooling/config.json")
    if FileManager.default.fileExists(atPath: pooling.path) {
      let json = try JSONFile(pooling)
      let modes = ["pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"]
      for key in modes where try json.bool(key) == true {
        throw TransformersError.unsupported("\(pooling.path): \(key); only mean pooling is implemented")
      }
      if try json.bool("pooling_mode_mean_tokens") == false {
        throw TransformersError.unsupported("\(pooling.path): pooling_mode_mean_tokens is false; only mean pooling is implemented")
      }
    }
    let modules = directory.appendingPathComponent("modules.json")
    if FileManager.default.fileExists(atPath: modules.path),
      let text = try? String(contentsOf: modules, encoding: .utf8), !text.contains("models.Normalize")
    {
      model.output = .meanPooled
    }
    model.eval()
    return model
  }

  /// Copies the tensors of a safetensors file into the model, strictly by PyTorch name.
  ///
  /// Every parameter must be present with its shape and a floating-point dtype, and the file
  /// may hold nothing else except the `embeddings.position_ids` buffer (which must be
  /// `0, 1, …` as HuggingFace writes it). Nothing changes unless every check passes.
  ///
  /// - Throws: ``TransformersError/weightsMismatch(path:reason:)`` listing every problem.
  public func loadWeights(from url: URL) throws {
    let file: SafeTensorsFile
    do { file = try SafeTensorsFile(contentsOf: url) } catch {
      throw TransformersError.malformedFile(path: url.path, reason: "\(error)")
    }
    try loadWeights(from: file, path: url.path)
  }

  func loadWeights(from file: SafeTensorsFile, path: String) throws {
    var state: [String: Tensor] = [:]
    for info in file.tensors {
      if info.name == "embeddings.position_ids" {
        let ids = (try? file.int64s(info.name)) ?? []
        guard ids.count == info.elementCount, ids.enumerated().allSatisfy({ Int64($0.offset) == $0.element }) else {
          throw TransformersError.weightsMismatch(
            path: path, reason: "embeddings.position_ids must be the integers 0, 1, 2, … (absolute positions)")
        }
        continue
      }
      guard info.dtype.isFloatingPoint else {
        throw TransformersError.weightsMismatch(path: path, reason: "tensor \(info.name) has dtype \(info.dtype.rawValue), not a float type")
      }
      do {
        state[info.name] = try Tensor(try file.floats(info.name), shape: info.shape)
      } catch {
        throw TransformersError.weightsMismatch(path: path, reason: "tensor \(info.name): \(error)")
      }
    }
    do { try loadStateDict(state, strict: true) } catch {
      throw TransformersError.weightsMismatch(path: path, reason: "\(error)")
    }
  }
}
