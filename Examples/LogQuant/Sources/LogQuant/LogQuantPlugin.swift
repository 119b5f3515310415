import QATKit
import QATRegistry

/// Registers the `log2` quantizer algorithm (``LogQuantizer``). Add it with
/// `registry.register(LogQuantPlugin.self)`; checkpoints that use `log2` name this plugin.
public enum LogQuantPlugin: QATPlugin {
  /// The plugin's name, recorded in checkpoints.
  public static let name = "LogQuant"
  /// One line about it.
  public static let summary = "LogQuant: power-of-two weights (Miyashita et al. 2016)"

  /// Registers `log2`.
  public static func register(in registry: inout Registry) throws {
    try registry.register(quantizer: "log2", summary: "signed powers of two below a calibrated range (Miyashita et al. 2016)") {
      try LogQuantizer(attributes: $0)
    }
  }
}
