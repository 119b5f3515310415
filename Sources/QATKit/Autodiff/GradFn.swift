/// A recorded operation: its inputs and how to turn the output's gradient into theirs.
package final class GradFn {
  /// A short name for diagnostics (`"matmul"`, `"relu"`, ...).
  package let name: String
  /// The tensors the operation read.
  package let inputs: [Tensor]
  /// Maps the gradient of the output to one gradient per input (`nil` = no contribution).
  package let backward: (Tensor) -> [Tensor?]

  package init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
    self.name = name
    self.inputs = inputs
    self.backward = backward
  }
}
