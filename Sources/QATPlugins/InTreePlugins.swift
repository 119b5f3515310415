import QATKit
import QATPluginAffine
import QATPluginAWQ
import QATPluginGPTQ
import QATPluginLSQ
import QATPluginLSQPlus
import QATPluginPACT
import QATPluginRKD
import QATPluginSmoothQuant
import QATPluginTTQ
import QATPluginUncertainty
import QATRegistry

/// The plugins that ship with QATKit. Every folder under `Sources/Plugins` must appear here
/// (a test checks it).
public enum InTreePlugins {
  /// The in-tree plugin types, in registration order.
  public static let all: [any QATPlugin.Type] = [
    LSQPlugin.self, PACTPlugin.self, TTQPlugin.self, LSQPlusPlugin.self, RKDPlugin.self, UncertaintyPlugin.self,
    AWQPlugin.self, SmoothQuantPlugin.self, GPTQPlugin.self, AffinePlugin.self,
  ]

  /// ``Registry/builtin`` plus every in-tree plugin.
  public static let registry: Registry = {
    var r = Registry.builtin
    // In-tree names are distinct from the built-ins (a test registers them from scratch).
    for p in all { try! r.register(p) }
    return r
  }()
}
