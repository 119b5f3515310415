import QATKit

/// A plugin: one type that registers the algorithms, quantizers, criteria and balancers it
/// brings. Swift has no static constructors, so registration is explicit:
/// `registry.register(LSQPlugin.self)`.
public protocol QATPlugin: SendableMetatype {
  /// The plugin's name, recorded next to every mode it registers (so a checkpoint can name the
  /// plugin it needs).
  static var name: String { get }
  /// One line about what it brings.
  static var summary: String { get }
  /// Registers everything the plugin provides.
  static func register(in registry: inout Registry) throws
}
