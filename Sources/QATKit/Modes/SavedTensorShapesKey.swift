/// The ``ModeContext`` key under which `restore` passes the shapes of the checkpoint's tensors
/// (after key migration) to each mode's ``Mode/restore(_:config:metadata:context:)``, so a mode
/// can check the state shapes its metadata records against the file's own tensors before it
/// allocates anything.
public enum SavedTensorShapesKey: ModeContextKey {
  /// Tensor name → shape.
  public typealias Value = [String: [Int]]
}
