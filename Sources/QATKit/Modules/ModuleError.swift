/// Errors from module paths, replacement and state loading.
public enum ModuleError: Error, Equatable, CustomStringConvertible {
  /// No child or parameter at a path; lists the paths that exist.
  case noSuchPath(String, available: [String])
  /// A replacement module does not fit the declared property type.
  case typeMismatch(String)
  /// The child at a path is not declared replaceable (`@Child` or in a ``Sequential``).
  case notReplaceable(String)
  /// A state dict does not match the module: every problem, listed together.
  case stateMismatch(missing: [String], unexpected: [String], misShaped: [String])
  /// The module cannot be copied (``Module/copy(environment:)``); says why.
  case notCopyable(String)
  /// A layer cannot take an input of `shape` (``Module/checkedForward(_:)``): the layer's path,
  /// the shape and what it expects.
  case incompatibleInput(path: String, shape: [Int], String)

  /// A message naming the problem and what to do.
  public var description: String {
    switch self {
    case .noSuchPath(let p, let available):
      let near = available.sorted { editDistance($0, p) < editDistance($1, p) }.prefix(3)
      return "no module or tensor at '\(p)'; nearest: \(near.joined(separator: ", ")) (of \(available.count) paths)"
    case .typeMismatch(let m): return "type mismatch: \(m)"
    case .notReplaceable(let p):
      return "'\(p)' cannot be replaced: declare it with @Child or keep it in a Sequential"
    case .stateMismatch(let missing, let unexpected, let misShaped):
      var parts: [String] = []
      if !missing.isEmpty { parts.append("missing keys: \(missing.joined(separator: ", "))") }
      if !unexpected.isEmpty { parts.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
      if !misShaped.isEmpty { parts.append("mis-shaped: \(misShaped.joined(separator: "; "))") }
      return "state dict does not match the model: " + parts.joined(separator: "; ")
    case .notCopyable(let m): return "cannot copy the model: \(m)"
    case .incompatibleInput(let p, let shape, let m):
      return "'\(p)' cannot take an input of shape \(shape): \(m); check the data's shape (feature count) against the model"
    }
  }
}

/// Levenshtein distance, for "did you mean" suggestions.
package func editDistance(_ a: String, _ b: String) -> Int {
  let a = Array(a.utf8), b = Array(b.utf8)
  if a.isEmpty { return b.count }
  if b.isEmpty { return a.count }
  var prev = Array(0...b.count)
  var cur = [Int](repeating: 0, count: b.count + 1)
  for i in 1...a.count {
    cur[0] = i
    for j in 1...b.count {
      cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
    }
    swap(&prev, &cur)
  }
  return prev[b.count]
}
