public import Foundation

extension Module {
  /// Writes the model's ``stateDict()`` as an F32 safetensors file, atomically.
  ///
  /// Tensors appear under their dotted state-dict names (`fc1.weight`, ...) in state-dict
  /// order, so PyTorch's `safetensors.torch.load_file` reads the file straight into the
  /// matching `nn.Module`.
  ///
  /// - Parameters:
  ///   - url: Where to write; an existing file is replaced only when the write succeeds.
  ///   - metadata: String pairs stored in the header's `__metadata__`.
  /// - Throws: ``SafeTensorsError`` when the file cannot be written.
  public func saveSafeTensors(to url: URL, metadata: [String: String] = [:]) throws {
    let tensors = stateDict().map { (name: $0.0, shape: $0.1.shape, values: $0.1.scalars) }
    try SafeTensors.write(floats: tensors, as: .f32, metadata: metadata, to: url)
  }

  /// Loads tensors from a safetensors file (e.g. a PyTorch state dict) into the model, in
  /// place, by state-dict name after `renaming`.
  ///
  /// Any floating-point dtype (F32, F16, BF16, F64, FP8) is converted to `Float`; buffers
  /// (BatchNorm's `num_batches_tracked` is `I64` in PyTorch) may also be integers. Nothing
  /// changes unless every check passes (see ``loadStateDict(_:strict:)``): a mismatch lists
  /// the missing, unexpected and mis-shaped names together.
  ///
  /// - Parameters:
  ///   - url: The file to read.
  ///   - strict: When `true`, tensors the model lacks and model tensors the file lacks are
  ///     errors; shapes must match either way.
  ///   - renaming: Prefix rules applied to the file's names first (e.g. drop `module.`).
  /// - Throws: ``SafeTensorsError`` when the file is malformed or a needed tensor is not
  ///   numeric; ``ModuleError/stateMismatch(missing:unexpected:misShaped:)`` when the file
  ///   does not match the model (also when two names rename to the same key).
  public func loadSafeTensors(from url: URL, strict: Bool = true, renaming: KeyRenaming = KeyRenaming()) throws {
    let file = try SafeTensors.open(contentsOf: url)
    let wanted = Set(stateDict().map(\.0))
    let buffers = Set(namedBuffers().map(\.0))
    var state: [String: Tensor] = [:]
    var sources: [String: String] = [:]
    for info in file.tensors {
      let key = renaming.apply(info.name)
      if let other = sources[key] {
        throw ModuleError.stateMismatch(
          missing: [], unexpected: ["\(info.name) (renamed to '\(key)', as is \(other))"], misShaped: [])
      }
      sources[key] = info.name
      guard wanted.contains(key) else {
        // Only the key matters for reporting an unexpected tensor; its data is not decoded.
        state[key] = Tensor(shape: [0], storage: [])
        continue
      }
      guard info.dtype.isFloatingPoint || buffers.contains(key) else {
        throw SafeTensorsError(
          .dtypeMismatch(info.name, info.dtype, "Float"),
          "tensor `\(info.name)` has dtype \(info.dtype.rawValue); model weights must be a floating-point type")
      }
      state[key] = Tensor(shape: info.shape, storage: try file.floats(info.name))
    }
    try loadStateDict(state, strict: strict)
  }
}
