import QATKit

extension Registry {
  /// The context handed to modes: the forward loop plus the registry's factories.
  func makeContext(forwardLoop: ((Module) throws -> Void)?) -> ModeContext {
    var context = ModeContext(forwardLoop: forwardLoop)
    installServices(into: &context)
    return context
  }
}
